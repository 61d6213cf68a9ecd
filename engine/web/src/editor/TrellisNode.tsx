import { Handle, Position, type NodeProps, type Node } from "@xyflow/react";
import type { NodeData } from "./document";

/// A node on the canvas: one input handle, one handle per output port and
/// `error`, each named so edges keep their port.
export function TrellisNode({ id, data, selected }: NodeProps<Node<NodeData>>) {
  const ports = [...data.ports, "error"];
  return (
    <div className={`flow-node${selected ? " selected" : ""}`} data-testid={`node-${id}`} data-status={String(data.status ?? "")}>
      <Handle type="target" position={Position.Left} />
      <div className="flow-node-id">{id}</div>
      <div className="flow-node-kind">{data.title}</div>
      <div className="flow-node-ports">
        {ports.map((port) => (
          <div key={port} className={`flow-port${port === "error" ? " error" : ""}`}>
            {port}
            <Handle id={port} type="source" position={Position.Right} className="port-handle" aria-label={`${id} port ${port}`} />
          </div>
        ))}
      </div>
    </div>
  );
}
