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
import { api, type Schemas } from "../api/client";
import { describe, edge, freshId, toDocument, toFlow, type Catalog, type Document, type NodeData, type NodeSpec } from "./document";
import { Palette, paletteKinds, type PaletteKind } from "./Palette";
import { TrellisNode } from "./TrellisNode";

const nodeTypes = { trellis: TrellisNode };

function Canvas({ id, onClose }: { id: string; onClose: () => void }) {
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [document, setDocument] = useState<Document | null>(null);
  const [version, setVersion] = useState<number | null>(null);
  const [nodes, setNodes, onNodesChange] = useNodesState<Node<NodeData>>([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState<Edge>([]);
  const [message, setMessage] = useState<string | null>(null);
  const [problems, setProblems] = useState<Schemas["Problem"][]>([]);
  const flow = useReactFlow();

  useEffect(() => {
    Promise.all([api.GET("/v1/catalog"), api.GET("/v1/workflows/{id}", { params: { path: { id } } })]).then(
      ([c, w]) => {
        const loadedCatalog = c.data ?? null;
        setCatalog(loadedCatalog);
        if (w.data) {
          setDocument(w.data.document);
          setVersion(w.data.version);
          const built = toFlow(w.data.document, loadedCatalog);
          setNodes(built.nodes);
          setEdges(built.edges);
        }
      },
    );
  }, [id, setNodes, setEdges]);

  const kinds = useMemo(() => (catalog ? paletteKinds(catalog) : []), [catalog]);

  const add = useCallback(
    (kind: PaletteKind, position?: { x: number; y: number }) => {
      setNodes((current) => {
        const taken = new Set(current.map((n) => n.id));
        const nodeId = freshId(kind.spec.kind ?? kind.spec.builtin ?? "node", taken);
        const spec: NodeSpec = { id: nodeId, config: {}, join: "all", ...kind.spec };
        // Without a drop point: right of the rightmost node.
        const right = current.reduce((max, n) => Math.max(max, n.position.x), -Infinity);
        const at = position ?? (current.length ? { x: right + 260, y: current[0].position.y } : { x: 80, y: 80 });
        return [...current, { id: nodeId, type: "trellis", position: at, data: { spec, ...describe(spec, catalog) } }];
      });
      if (!position) requestAnimationFrame(() => flow.fitView());
    },
    [catalog, setNodes, flow],
  );

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    const kind = kinds.find((k) => k.key === event.dataTransfer.getData("application/trellis-kind"));
    if (kind) add(kind, flow.screenToFlowPosition({ x: event.clientX, y: event.clientY }));
  };

  const onConnect = useCallback(
    (c: Connection) => setEdges((current) => addEdge(edge(c.source, c.sourceHandle ?? "out", c.target), current)),
    [setEdges],
  );

  const save = async () => {
    if (!document) return;
    const body = toDocument(document, nodes, edges);
    const { data, error } = await api.PUT("/v1/workflows/{id}", { params: { path: { id } }, body });
    if (data) {
      setDocument(body);
      setVersion(data.version);
      setProblems([]);
      setMessage(`Saved version ${data.version}`);
    } else {
      const details = error?.error.details as { problems?: Schemas["Problem"][] } | null;
      setProblems(details?.problems ?? []);
      setMessage(error?.error.message ?? "saving failed");
    }
  };

  return (
    <div className="editor">
      <div className="editor-bar">
        <button type="button" onClick={onClose}>
          ← Workflows
        </button>
        <h2>
          <code>{id}</code> {version !== null && <span className="muted">version {version}</span>}
        </h2>
        <button type="button" onClick={save}>
          Save
        </button>
        {message && <span role="status">{message}</span>}
      </div>
      {problems.length > 0 && (
        <ul className="problems" aria-label="Problems">
          {problems.map((p) => (
            <li key={`${p.path}:${p.code}`}>
              <code>{p.path}</code> {p.message}
            </li>
          ))}
        </ul>
      )}
      <div className="editor-body">
        {catalog && <Palette catalog={catalog} onAdd={(kind) => add(kind)} />}
        <div className="canvas" onDragOver={(e) => e.preventDefault()} onDrop={onDrop} data-testid="canvas">
          <ReactFlow
            nodes={nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            deleteKeyCode={["Backspace", "Delete"]}
            fitView
          >
            <Background />
            <Controls />
          </ReactFlow>
        </div>
      </div>
    </div>
  );
}

export function Editor(props: { id: string; onClose: () => void }) {
  return (
    <ReactFlowProvider>
      <Canvas {...props} />
    </ReactFlowProvider>
  );
}
