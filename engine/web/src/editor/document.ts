// A workflow document to and from the canvas: nodes keep their whole spec
// in `data.spec`; edges are `from`/`port` → `to`; positions live in the
// document's `ui.positions`, which the engine keeps verbatim.
import type { Edge, Node } from "@xyflow/react";
import type { Schemas } from "../api/client";

export type Document = Schemas["WorkflowDocument"];
export type NodeSpec = Schemas["WorkflowNodeSpec"];
export type Catalog = Schemas["Catalog"];

export interface NodeData extends Record<string, unknown> {
  spec: NodeSpec;
  title: string;
  ports: string[];
  /// Problems the server found in this node.
  problems?: number;
  /// In a run: the node's status.
  status?: string;
}

interface Ui {
  positions?: Record<string, { x: number; y: number }>;
}

export interface KindInfo {
  title: string;
  description: string;
  ports: string[];
  configSchema: unknown;
  outputSchema: unknown;
}

/// What the catalog says of a node's kind (every node also has `error`).
export function kindOf(spec: NodeSpec, catalog: Catalog | null): KindInfo {
  if (spec.builtin) {
    const kind = catalog?.builtins.find((b) => b.name === spec.builtin);
    const dynamic = kind?.dynamic_ports ? casePorts(spec.config) : [];
    return {
      title: kind?.title ?? spec.builtin,
      description: kind?.description ?? "",
      ports: [...(kind?.ports ?? ["out"]), ...dynamic],
      configSchema: kind?.config_schema ?? {},
      outputSchema: kind?.output_schema ?? {},
    };
  }
  const plugin = spec.uses?.split("@")[0];
  const kind = catalog?.plugins.find((p) => p.plugin === plugin)?.kinds.find((k) => k.name === spec.kind);
  return {
    title: kind?.title ?? `${plugin} ${spec.kind ?? ""}`,
    description: kind?.description ?? "",
    ports: kind?.ports ?? ["out"],
    configSchema: kind?.config_schema ?? {},
    outputSchema: kind?.output_schema ?? {},
  };
}

/// A `switch` node's ports named by its `config.cases`.
function casePorts(config: unknown): string[] {
  const cases = (config as { cases?: unknown } | null)?.cases;
  if (Array.isArray(cases)) return cases.filter((c): c is string => typeof c === "string");
  if (cases && typeof cases === "object") return Object.keys(cases);
  return [];
}

export function flowNode(spec: NodeSpec, position: { x: number; y: number }, catalog: Catalog | null): Node<NodeData> {
  const kind = kindOf(spec, catalog);
  return { id: spec.id, type: "trellis", position, data: { spec, title: kind.title, ports: kind.ports } };
}

export function toFlow(document: Document, catalog: Catalog | null): { nodes: Node<NodeData>[]; edges: Edge[] } {
  const positions = ((document.ui ?? {}) as Ui).positions ?? {};
  const nodes = document.nodes.map((spec, i) =>
    flowNode(spec, positions[spec.id] ?? { x: 80 + (i % 4) * 240, y: 60 + Math.floor(i / 4) * 160 }, catalog),
  );
  const edges = (document.edges ?? []).map((e) => edge(e.from, e.port ?? "out", e.to));
  return { nodes, edges };
}

export function edge(from: string, port: string, to: string): Edge {
  return { id: `${from}:${port}->${to}`, source: from, sourceHandle: port, target: to, label: port === "out" ? undefined : port };
}

export function toDocument(base: Document, nodes: Node<NodeData>[], edges: Edge[]): Document {
  const positions: Record<string, { x: number; y: number }> = {};
  for (const node of nodes) positions[node.id] = { x: Math.round(node.position.x), y: Math.round(node.position.y) };
  return {
    ...base,
    nodes: nodes.map((node) => ({ ...node.data.spec, id: node.id })),
    edges: edges.map((e) => ({ from: e.source, port: e.sourceHandle ?? "out", to: e.target })),
    ui: { ...((base.ui ?? {}) as object), positions },
  };
}

/// A node id not used yet, from the kind's name.
export function freshId(base: string, taken: Set<string>): string {
  const stem = base.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "") || "node";
  let id = stem;
  for (let n = 2; taken.has(id); n++) id = `${stem}-${n}`;
  return id;
}
