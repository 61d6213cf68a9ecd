// The server's validation problems, placed where they belong: a node's own
// (by its index in the document), a config field's, or the workflow's.
import type { ErrorSchema } from "@rjsf/utils";
import type { Schemas } from "../api/client";

export type Problem = Schemas["Problem"];

export interface Placed {
  /// By node id: problems about the node that no field of its form shows.
  node: Map<string, Problem[]>;
  /// By node id: the config problems, as RJSF's error schema.
  fields: Map<string, ErrorSchema>;
  /// By node id: how many problems in all.
  count: Map<string, number>;
  workflow: Problem[];
}

const NODE = /^\$\.nodes\[(\d+)\](.*)$/;
const REQUIRED = /^"([^"]+)" is a required property$/;

/// `.a.b[0]` → `["a", "b", "0"]`
function segments(path: string): string[] {
  return [...path.matchAll(/\.([^.[\]]+)|\[(\d+)\]/g)].map((m) => m[1] ?? m[2]);
}

function addFieldError(schema: ErrorSchema, at: string[], message: string) {
  let cursor = schema as Record<string, unknown>;
  for (const segment of at) {
    cursor[segment] ??= {};
    cursor = cursor[segment] as Record<string, unknown>;
  }
  const errors = (cursor.__errors as string[] | undefined) ?? [];
  cursor.__errors = [...errors, message];
}

export function place(problems: Problem[], nodeIds: string[]): Placed {
  const placed: Placed = { node: new Map(), fields: new Map(), count: new Map(), workflow: [] };
  for (const problem of problems) {
    const match = NODE.exec(problem.path);
    const id = match ? nodeIds[Number(match[1])] : undefined;
    if (!match || id === undefined) {
      placed.workflow.push(problem);
      continue;
    }
    placed.count.set(id, (placed.count.get(id) ?? 0) + 1);
    const rest = match[2];
    if (rest === ".config" || rest.startsWith(".config.") || rest.startsWith(".config[")) {
      const at = segments(rest.slice(".config".length));
      // A missing field is reported at its parent; show it at the field.
      const required = REQUIRED.exec(problem.message);
      if (required) at.push(required[1]);
      if (at.length > 0) {
        const schema = placed.fields.get(id) ?? {};
        addFieldError(schema, at, problem.message);
        placed.fields.set(id, schema);
        continue;
      }
    }
    placed.node.set(id, [...(placed.node.get(id) ?? []), problem]);
  }
  return placed;
}
