import { Handle, Position, type NodeProps, type Node } from "@xyflow/react";
import type { NodeData } from "./document";

/// A node on the canvas: one input handle, one handle per output port and
/// `error`, each named so edges keep their port; its problems or, in a
/// run, its status.
export function TrellisNode({ id, data, selected, isConnectable }: NodeProps<Node<NodeData>>) {
  const ports = [...data.ports, "error"];
  const status = data.status ?? "";
  return (
    <div
      className={`flow-node${selected ? " selected" : ""}${status ? ` status-${status}` : ""}${data.problems ? " invalid" : ""}`}
      data-testid={`node-${id}`}
      data-status={status}
    >
      <Handle type="target" position={Position.Left} isConnectable={isConnectable} />
      <div className="flow-node-id">{id}</div>
      <div className="flow-node-kind">{data.title}</div>
      {status && <div className="flow-node-status">{status}</div>}
      {data.problems ? (
        <div className="flow-node-problems" role="note">
          {data.problems} problem{data.problems > 1 ? "s" : ""}
        </div>
      ) : null}
      <div className="flow-node-ports">
        {ports.map((port) => (
          <div key={port} className={`flow-port${port === "error" ? " error" : ""}`}>
            {port}
            <Handle
              id={port}
              type="source"
              position={Position.Right}
              className="port-handle"
              isConnectable={isConnectable}
              aria-label={`${id} port ${port}`}
            />
          </div>
        ))}
      </div>
    </div>
  );
}
