import type { Schemas } from "./api/client";

/// The message of a refused request, for a status line.
export function messageOf(error: unknown, fallback: string): string {
  const body = error as Schemas["ErrorBody"] | undefined;
  return body?.error?.message ?? fallback;
}
