import { useCallback, useEffect, useMemo, useState } from "react";
import { Background, Controls, ReactFlow, ReactFlowProvider, useNodesState, type Node } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { api, type Schemas } from "../api/client";
import { useCan } from "../session";
import { go, href } from "../route";
import { messageOf } from "../errors";
import { toFlow, type Catalog, type Document, type NodeData } from "../editor/document";
import { TrellisNode } from "../editor/TrellisNode";
import { NodeRecord } from "./NodeRecord";
import { follow } from "./events";

const nodeTypes = { trellis: TrellisNode };
const FINISHED = ["succeeded", "failed", "cancelled"];

/// One run on its workflow's canvas, node statuses changing live; a node's
/// record on click; cancel, re-run from a node, approve or reject.
function RunCanvas({ id }: { id: string }) {
  const canOperate = useCan("operator");
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [detail, setDetail] = useState<Schemas["RunDetail"] | null>(null);
  const [statuses, setStatuses] = useState<Record<string, string>>({});
  const [runStatus, setRunStatus] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);

  const reload = useCallback(
    () =>
      api.GET("/v1/runs/{id}", { params: { path: { id } } }).then(({ data }) => {
        if (!data) return;
        setDetail(data);
        setRunStatus(data.run.status);
        setStatuses(Object.fromEntries(data.nodes.map((n) => [n.node_id, n.status])));
      }),
    [id],
  );

  useEffect(() => {
    api.GET("/v1/catalog").then(({ data }) => setCatalog(data ?? null));
    return follow(id, {
      snapshot: (d) => {
        setDetail(d);
        setRunStatus(d.run.status);
        setStatuses(Object.fromEntries(d.nodes.map((n) => [n.node_id, n.status])));
      },
      node: (e) => {
        // A map's child runs report their own nodes; the canvas shows this run's.
        if (e.run_id === id) setStatuses((s) => ({ ...s, [e.node_id]: e.status }));
      },
      run: (e) => {
        setRunStatus(e.status);
        if (FINISHED.includes(e.status)) reload();
      },
    });
  }, [id, reload]);

  // A run's document never changes: the canvas is laid out once, and only
  // statuses change after. The nodes live in React Flow's state so the
  // sizes it measured survive every update (a node rebuilt without them is
  // hidden until measured again).
  const [document, setDocument] = useState<Document | null>(null);
  useEffect(() => {
    if (detail && !document) setDocument(detail.run.document as Document);
  }, [detail, document]);
  const flow = useMemo(() => (document ? toFlow(document, catalog) : { nodes: [], edges: [] }), [document, catalog]);
  const [nodes, setNodes, onNodesChange] = useNodesState<Node<NodeData>>([]);
  useEffect(() => setNodes(flow.nodes), [flow, setNodes]);
  useEffect(
    () => setNodes((current) => current.map((n) => ({ ...n, data: { ...n.data, status: statuses[n.id] ?? "pending" } }))),
    [flow, statuses, setNodes],
  );
  const record = detail?.nodes.find((n) => n.node_id === selected);
  const spec = document?.nodes.find((n) => n.id === selected);
  const finished = runStatus !== null && FINISHED.includes(runStatus);

  const open = (nodeId: string) => {
    setSelected(nodeId);
    reload();
  };

  const act = async (request: Promise<{ error?: unknown; data?: unknown }>, done: string) => {
    const { error } = await request;
    setMessage(error ? messageOf(error, "refused") : done);
    reload();
  };
  const cancel = () => act(api.POST("/v1/runs/{id}/cancel", { params: { path: { id } } }), "Cancel requested");
  const decide = (approved: boolean) =>
    selected &&
    act(
      api.POST("/v1/runs/{id}/approvals/{node}", { params: { path: { id, node: selected } }, body: { approved } }),
      approved ? "Approved" : "Rejected",
    );
  const rerun = async () => {
    if (!selected) return;
    const { data, error } = await api.POST("/v1/runs/{id}/rerun", { params: { path: { id } }, body: { node: selected } });
    if (data) go("runs", data.run.id);
    else setMessage(messageOf(error, "re-run refused"));
  };

  return (
    <div className="editor">
      <div className="editor-bar">
        <a href={href("runs")}>← Runs</a>
        <h2>
          Run <code>{id}</code>{" "}
          {detail && (
            <a href={href("workflows", detail.run.workflow_id)}>
              <code>{detail.run.workflow_id}</code>
            </a>
          )}{" "}
          <span className={`badge status-${runStatus}`} data-testid="run-status">
            {runStatus}
          </span>
        </h2>
        {canOperate && !finished && (
          <button type="button" onClick={cancel}>
            Cancel run
          </button>
        )}
        {message && <span role="status">{message}</span>}
      </div>
      {detail?.run.error && <p className="error-text">{detail.run.error}</p>}
      <div className="editor-body">
        <div className="canvas" data-testid="canvas">
          <ReactFlow
            nodes={nodes}
            edges={flow.edges}
            onNodesChange={onNodesChange}
            nodeTypes={nodeTypes}
            nodesDraggable={false}
            nodesConnectable={false}
            onNodeClick={(_, node) => open(node.id)}
            onSelectionChange={({ nodes: picked }) => picked[0] && picked[0].id !== selected && open(picked[0].id)}
            deleteKeyCode={null}
            fitView
            fitViewOptions={{ maxZoom: 1 }}
          >
            <Background />
            <Controls />
          </ReactFlow>
        </div>
        <aside className="side-panel" aria-label={selected ? `Node ${selected} record` : "Run"}>
          {selected && record ? (
            <>
              <h3>
                <code>{selected}</code>
              </h3>
              {canOperate && record.status === "waiting" && spec?.builtin === "approval" && (
                <p className="inline">
                  <button type="button" onClick={() => decide(true)}>
                    Approve
                  </button>
                  <button type="button" className="danger" onClick={() => decide(false)}>
                    Reject
                  </button>
                </p>
              )}
              {canOperate && finished && (
                <button type="button" onClick={rerun}>
                  Re-run from this node
                </button>
              )}
              <NodeRecord node={record} />
            </>
          ) : selected ? (
            <p>
              <code>{selected}</code> has not run.
            </p>
          ) : (
            detail && (
              <>
                <h3>Input</h3>
                <pre className="json">{JSON.stringify(detail.run.input, null, 2)}</pre>
                {detail.run.output !== undefined && detail.run.output !== null && (
                  <>
                    <h3>Output</h3>
                    <pre className="json">{JSON.stringify(detail.run.output, null, 2)}</pre>
                  </>
                )}
                <p className="muted">Select a node to see its record.</p>
              </>
            )
          )}
        </aside>
      </div>
    </div>
  );
}

export function RunView({ id }: { id: string }) {
  return (
    <ReactFlowProvider>
      <RunCanvas id={id} />
    </ReactFlowProvider>
  );
}
