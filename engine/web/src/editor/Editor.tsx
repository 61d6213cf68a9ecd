import { useCallback, useEffect, useMemo, useState, type DragEvent } from "react";
import {
  addEdge,
  Background,
  Controls,
  ReactFlow,
  ReactFlowProvider,
  useEdgesState,
  useNodesState,
  useReactFlow,
  type Connection,
  type Edge,
  type Node,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { api } from "../api/client";
import { useCan } from "../session";
import { go, href } from "../route";
import { edge, flowNode, freshId, kindOf, toDocument, toFlow, type Catalog, type Document, type NodeData, type NodeSpec } from "./document";
import { Palette, paletteKinds, type PaletteKind } from "./Palette";
import { TrellisNode } from "./TrellisNode";
import { NodePanel } from "./NodePanel";
import { WorkflowPanel } from "./WorkflowPanel";
import { place, type Problem } from "./problems";
import { suggestionsFor } from "./suggestions";

const nodeTypes = { trellis: TrellisNode };

function Canvas({ id, version: wanted }: { id: string; version?: number }) {
  const canEdit = useCan("editor");
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [document, setDocument] = useState<Document | null>(null);
  const [version, setVersion] = useState<number | null>(null);
  const [latest, setLatest] = useState<number | null>(null);
  const [secrets, setSecrets] = useState<string[]>([]);
  const [nodes, setNodes, onNodesChange] = useNodesState<Node<NodeData>>([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState<Edge>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [loadedWithNodes, setLoadedWithNodes] = useState(false);
  const flow = useReactFlow();
  const readonly = !canEdit;

  useEffect(() => {
    const path = { params: { path: { id } } };
    const loadVersion =
      wanted === undefined
        ? api.GET("/v1/workflows/{id}", path)
        : api.GET("/v1/workflows/{id}/versions/{version}", { params: { path: { id, version: wanted } } });
    // The latest version's number, to mark an older one; fetched only then.
    const loadLatest = wanted === undefined ? loadVersion : api.GET("/v1/workflows/{id}", path);
    Promise.all([api.GET("/v1/catalog"), loadVersion, loadLatest]).then(([c, w, head]) => {
      const loadedCatalog = c.data ?? null;
      setCatalog(loadedCatalog);
      setLatest(head.data?.version ?? null);
      if (w.data) {
        setDocument(w.data.document);
        setLoadedWithNodes(w.data.document.nodes.length > 0);
        setVersion(w.data.version);
        const built = toFlow(w.data.document, loadedCatalog);
        setNodes(built.nodes);
        setEdges(built.edges);
      }
    });
    if (canEdit) api.GET("/v1/secrets").then(({ data }) => setSecrets(data?.secrets.map((s) => s.name) ?? []));
  }, [id, wanted, canEdit, setNodes, setEdges]);

  const current = useMemo(() => (document ? toDocument(document, nodes, edges) : null), [document, nodes, edges]);
  // Moving a node changes only `ui`; everything else is checked by the
  // server as the user edits, so problems show before saving.
  const checked = useMemo(() => (current ? JSON.stringify({ ...current, ui: null }) : null), [current]);
  useEffect(() => {
    if (!checked || readonly) return;
    const timer = setTimeout(() => {
      api.POST("/v1/workflows/validate", { body: JSON.parse(checked) }).then(({ data }) => data && setProblems(data.problems));
    }, 300);
    return () => clearTimeout(timer);
  }, [checked, readonly]);

  const placed = useMemo(() => place(problems, nodes.map((n) => n.id)), [problems, nodes]);
  const shown = useMemo(
    () => nodes.map((n) => (placed.count.has(n.id) ? { ...n, data: { ...n.data, problems: placed.count.get(n.id) } } : n)),
    [nodes, placed],
  );
  const kinds = useMemo(() => (catalog ? paletteKinds(catalog) : []), [catalog]);

  const add = useCallback(
    (kind: PaletteKind, position?: { x: number; y: number }) => {
      setNodes((existing) => {
        const taken = new Set(existing.map((n) => n.id));
        const nodeId = freshId(kind.spec.kind ?? kind.spec.builtin ?? "node", taken);
        const spec: NodeSpec = { id: nodeId, config: {}, join: "all", ...kind.spec };
        // Without a drop point: right of the rightmost node.
        const right = existing.reduce((max, n) => Math.max(max, n.position.x), -Infinity);
        const at = position ?? (existing.length ? { x: right + 260, y: existing[0].position.y } : { x: 80, y: 80 });
        setSelected(nodeId);
        return [...existing.map((n) => ({ ...n, selected: false })), { ...flowNode(spec, at, catalog), selected: true }];
      });
      if (!position) requestAnimationFrame(() => flow.fitView({ maxZoom: 1 }));
    },
    [catalog, setNodes, flow],
  );

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    const kind = kinds.find((k) => k.key === event.dataTransfer.getData("application/trellis-kind"));
    if (kind) add(kind, flow.screenToFlowPosition({ x: event.clientX, y: event.clientY }));
  };

  const connect = useCallback(
    (source: string, port: string, target: string) => setEdges((existing) => addEdge(edge(source, port, target), existing)),
    [setEdges],
  );
  const onConnect = useCallback((c: Connection) => connect(c.source, c.sourceHandle ?? "out", c.target), [connect]);

  const setSpec = (nodeId: string, spec: NodeSpec) =>
    setNodes((existing) =>
      existing.map((n) => {
        if (n.id !== nodeId) return n;
        const kind = kindOf(spec, catalog);
        return { ...n, data: { ...n.data, spec, ports: kind.ports } };
      }),
    );

  const remove = (nodeId: string) => {
    setNodes((existing) => existing.filter((n) => n.id !== nodeId));
    setEdges((existing) => existing.filter((e) => e.source !== nodeId && e.target !== nodeId));
    setSelected(null);
  };

  const save = async () => {
    if (!current) return;
    const { data, error } = await api.PUT("/v1/workflows/{id}", { params: { path: { id } }, body: current });
    if (data) {
      setDocument(current);
      setProblems([]);
      setMessage(`Saved version ${data.version}`);
      if (wanted !== undefined) go("workflows", id);
      setVersion(data.version);
      setLatest(data.version);
    } else {
      const details = error?.error.details as { problems?: Problem[] } | null;
      setProblems(details?.problems ?? []);
      setMessage(error?.error.message ?? "saving failed");
    }
  };

  const node = nodes.find((n) => n.id === selected);
  const outputOf = (nodeId: string) => {
    const n = nodes.find((x) => x.id === nodeId);
    return n ? kindOf(n.data.spec, catalog).outputSchema : null;
  };

  return (
    <div className="editor">
      <div className="editor-bar">
        <a href={href("workflows")}>← Workflows</a>
        <h2>
          <code>{id}</code> {version !== null && <span className="muted">version {version}</span>}
          {wanted !== undefined && wanted !== latest && <span className="badge">older version: saving makes it the latest</span>}
        </h2>
        <a href={href("workflows", id, "runs")}>Runs</a>
        {!readonly && (
          <button type="button" onClick={save}>
            Save
          </button>
        )}
        {message && <span role="status">{message}</span>}
      </div>
      {placed.workflow.length > 0 && (
        <ul className="problems" aria-label="Problems">
          {placed.workflow.map((p) => (
            <li key={`${p.path}:${p.message}`}>
              <code>{p.path}</code> {p.message}
            </li>
          ))}
        </ul>
      )}
      <div className="editor-body">
        {catalog && !readonly && <Palette catalog={catalog} onAdd={(kind) => add(kind)} />}
        <div className="canvas" onDragOver={(e) => e.preventDefault()} onDrop={onDrop} data-testid="canvas">
          {document && (
            <ReactFlow
              nodes={shown}
              edges={edges}
              nodeTypes={nodeTypes}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onConnect={onConnect}
              onSelectionChange={({ nodes: picked }) => setSelected(picked[0]?.id ?? null)}
              onNodesDelete={() => setSelected(null)}
              nodesDraggable={!readonly}
              nodesConnectable={!readonly}
              elementsSelectable
              deleteKeyCode={readonly ? null : ["Backspace", "Delete"]}
              // Fit a loaded workflow; an empty one keeps its viewport, so the
              // first node dropped stays where it was dropped.
              fitView={loadedWithNodes}
              fitViewOptions={{ maxZoom: 1 }}
            >
              <Background />
              <Controls />
            </ReactFlow>
          )}
        </div>
        {node && document ? (
          <NodePanel
            key={node.id}
            node={node}
            kind={kindOf(node.data.spec, catalog)}
            nodes={nodes}
            edges={edges}
            fieldErrors={placed.fields.get(node.id)}
            problems={placed.node.get(node.id) ?? []}
            secrets={secrets}
            suggestions={suggestionsFor(node.id, edges, document.input_schema, outputOf)}
            readonly={readonly}
            onSpec={(spec) => setSpec(node.id, spec)}
            onConnect={(port, target) => connect(node.id, port, target)}
            onDisconnect={(edgeId) => setEdges((existing) => existing.filter((e) => e.id !== edgeId))}
            onDelete={() => remove(node.id)}
          />
        ) : (
          current && (
            <WorkflowPanel
              id={id}
              document={current}
              version={version}
              latest={latest}
              secrets={secrets}
              readonly={readonly}
              onTriggers={(triggers) => document && setDocument({ ...document, triggers })}
            />
          )
        )}
      </div>
    </div>
  );
}

export function Editor(props: { id: string; version?: number }) {
  return (
    <ReactFlowProvider>
      <Canvas {...props} />
    </ReactFlowProvider>
  );
}
