// Who is signed in, and what their role lets the page offer. The API
// still decides every request; this only hides what would be refused.
import { createContext, useContext } from "react";
import type { Schemas } from "./api/client";

export type Role = Schemas["Role"];

const ORDER: Role[] = ["viewer", "operator", "editor", "admin", "owner"];

export function atLeast(role: Role | undefined, needed: Role): boolean {
  return role !== undefined && ORDER.indexOf(role) >= ORDER.indexOf(needed);
}

export const MeContext = createContext<Schemas["Me"] | null>(null);

/// Whether the signed-in principal's role reaches `needed`.
export function useCan(needed: Role): boolean {
  return atLeast(useContext(MeContext)?.role, needed);
}
