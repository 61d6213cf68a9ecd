// What a node's expressions can name: the run's input and the nodes that
// run before it (its ancestors), with the fields their schemas declare.
import type { Edge } from "@xyflow/react";

function properties(schema: unknown): string[] {
  const props = (schema as { properties?: Record<string, unknown> } | null)?.properties;
  return props && typeof props === "object" ? Object.keys(props) : [];
}

function ancestors(id: string, edges: Edge[]): string[] {
  const seen = new Set<string>();
  const queue = [id];
  while (queue.length > 0) {
    const current = queue.pop() as string;
    for (const e of edges) {
      if (e.target === current && !seen.has(e.source)) {
        seen.add(e.source);
        queue.push(e.source);
      }
    }
  }
  return [...seen].sort();
}

export function suggestionsFor(
  id: string,
  edges: Edge[],
  inputSchema: unknown,
  outputSchemaOf: (nodeId: string) => unknown,
): string[] {
  const found = ["input", ...properties(inputSchema).map((p) => `input.${p}`)];
  for (const node of ancestors(id, edges)) {
    found.push(`nodes.${node}.output`, `nodes.${node}.status`);
    for (const p of properties(outputSchemaOf(node))) found.push(`nodes.${node}.output.${p}`);
  }
  return found;
}
