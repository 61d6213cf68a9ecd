import { useState } from "react";
import type { Edge, Node } from "@xyflow/react";
import type { ErrorSchema } from "@rjsf/utils";
import { ConfigForm } from "../forms/ConfigForm";
import type { Schemas } from "../api/client";
import type { KindInfo, NodeData, NodeSpec } from "./document";
import type { Problem } from "./problems";

type Retry = Schemas["WorkflowRetryPolicy"];

/// The selected node: its config form, its settings (join, timeout,
/// retry), its edges with a keyboard "connect to…" menu, and its problems.
export function NodePanel(props: {
  node: Node<NodeData>;
  kind: KindInfo;
  nodes: Node<NodeData>[];
  edges: Edge[];
  fieldErrors?: ErrorSchema;
  problems: Problem[];
  secrets: string[];
  suggestions: string[];
  readonly: boolean;
  onSpec: (spec: NodeSpec) => void;
  onConnect: (port: string, target: string) => void;
  onDisconnect: (edgeId: string) => void;
  onDelete: () => void;
}) {
  const { node, kind, readonly } = props;
  const spec = node.data.spec;
  const ports = [...node.data.ports, "error"];
  const targets = props.nodes.filter((n) => n.id !== node.id);
  const [port, setPort] = useState(ports[0]);
  const [target, setTarget] = useState(targets[0]?.id ?? "");
  const outgoing = props.edges.filter((e) => e.source === node.id);
  const retry: Retry = { backoff: "exponential", initial_ms: 200, jitter: true, max_attempts: 1, max_ms: 60_000, ...spec.retry };
  const setRetry = (change: Partial<Retry>) => props.onSpec({ ...spec, retry: { ...retry, ...change } });
  const number = (text: string) => (text === "" ? null : Number(text));

  return (
    <aside className="side-panel" aria-label={`Node ${node.id}`}>
      <h3>
        <code>{node.id}</code> · {kind.title}
      </h3>
      {kind.description && <p className="muted">{kind.description}</p>}
      {props.problems.length > 0 && (
        <ul className="problems" aria-label="Node problems">
          {props.problems.map((p) => (
            <li key={`${p.path}:${p.message}`}>
              <code>{p.path}</code> {p.message}
            </li>
          ))}
        </ul>
      )}
      <section aria-label="Config">
        <h4>Config</h4>
        <ConfigForm
          key={node.id}
          idPrefix={`config-${node.id}`}
          schema={kind.configSchema}
          value={spec.config ?? {}}
          errors={props.fieldErrors}
          extras={{ secrets: props.secrets, suggestions: props.suggestions }}
          readonly={readonly}
          onChange={(config) => props.onSpec({ ...spec, config })}
        />
      </section>
      <fieldset disabled={readonly}>
        <legend>Settings</legend>
        <label>
          Join{" "}
          <select value={spec.join ?? "all"} onChange={(e) => props.onSpec({ ...spec, join: e.target.value as NodeSpec["join"] })}>
            <option value="all">all incoming edges</option>
            <option value="any">any incoming edge</option>
          </select>
        </label>
        <label>
          Timeout (ms){" "}
          <input
            type="number"
            min={1}
            value={spec.timeout_ms ?? ""}
            onChange={(e) => props.onSpec({ ...spec, timeout_ms: number(e.target.value) })}
          />
        </label>
        <label>
          Attempts{" "}
          <input type="number" min={1} value={retry.max_attempts ?? 1} onChange={(e) => setRetry({ max_attempts: Number(e.target.value) })} />
        </label>
        <label>
          Back-off{" "}
          <select value={retry.backoff ?? "exponential"} onChange={(e) => setRetry({ backoff: e.target.value as Retry["backoff"] })}>
            <option value="exponential">exponential</option>
            <option value="fixed">fixed</option>
          </select>
        </label>
        <label>
          First delay (ms){" "}
          <input type="number" min={0} value={retry.initial_ms ?? 200} onChange={(e) => setRetry({ initial_ms: Number(e.target.value) })} />
        </label>
      </fieldset>
      <section aria-label="Edges">
        <h4>Edges</h4>
        <ul>
          {outgoing.map((e) => (
            <li key={e.id}>
              {e.sourceHandle ?? "out"} → <code>{e.target}</code>{" "}
              {!readonly && (
                <button type="button" onClick={() => props.onDisconnect(e.id)}>
                  Remove
                </button>
              )}
            </li>
          ))}
        </ul>
        {!readonly && targets.length > 0 && (
          <div className="inline">
            <label>
              Port{" "}
              <select value={port} onChange={(e) => setPort(e.target.value)}>
                {ports.map((p) => (
                  <option key={p}>{p}</option>
                ))}
              </select>
            </label>
            <label>
              Connect to…{" "}
              <select value={target} onChange={(e) => setTarget(e.target.value)}>
                {targets.map((n) => (
                  <option key={n.id}>{n.id}</option>
                ))}
              </select>
            </label>
            <button type="button" onClick={() => target && props.onConnect(port, target)}>
              Connect
            </button>
          </div>
        )}
      </section>
      {!readonly && (
        <button type="button" className="danger" onClick={props.onDelete}>
          Delete node
        </button>
      )}
    </aside>
  );
}
