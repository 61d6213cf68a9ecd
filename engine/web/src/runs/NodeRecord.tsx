import type { Schemas } from "../api/client";

function Json({ value, label }: { value: unknown; label: string }) {
  return (
    <pre className="json" aria-label={label} tabIndex={0}>
      {JSON.stringify(value ?? null, null, 2)}
    </pre>
  );
}

const bytes = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`);

/// Everything a node's execution recorded.
export function NodeRecord({ node }: { node: Schemas["Node"] }) {
  return (
    <div className="record">
      <dl className="facts">
        <dt>Status</dt>
        <dd data-testid="record-status">{node.status}</dd>
        <dt>Attempt</dt>
        <dd>{node.attempt}</dd>
        <dt>Time</dt>
        <dd>{(node.wall_time_us / 1000).toFixed(1)} ms</dd>
        <dt>Fuel</dt>
        <dd>{node.fuel_used.toLocaleString()}</dd>
        <dt>Memory</dt>
        <dd>{bytes(node.peak_memory_bytes)}</dd>
        <dt>Idempotency key</dt>
        <dd>
          <code>{node.idempotency_key}</code>
        </dd>
      </dl>
      {node.error && (
        <p className="error-text" role="alert">
          <strong>{node.error.code}</strong>: {node.error.message}
        </p>
      )}
      <h4>Input</h4>
      <Json value={node.input} label="Input" />
      <h4>Config (after expressions)</h4>
      <Json value={node.config} label="Config" />
      <h4>Output</h4>
      {node.emits.length === 0 ? (
        <p className="muted">Nothing emitted.</p>
      ) : (
        node.emits.map((e, i) => (
          <div key={i}>
            <div>
              port <code>{e.port}</code>
            </div>
            <Json value={e.data} label={`Output on ${e.port}`} />
          </div>
        ))
      )}
      {node.history.length > 0 && (
        <>
          <h4>Earlier attempts</h4>
          <ul>
            {node.history.map((a) => (
              <li key={a.attempt}>
                attempt {a.attempt}: {a.failure.code}: {a.failure.message}
              </li>
            ))}
          </ul>
        </>
      )}
      {node.logs.length > 0 && (
        <>
          <h4>Logs{node.logs_truncated ? " (truncated)" : ""}</h4>
          <pre className="logs" tabIndex={0}>
            {node.logs.map((l) => `${l.at_ms} ms ${l.level} ${l.message}`).join("\n")}
          </pre>
        </>
      )}
      {node.http_calls.length > 0 && (
        <>
          <h4>HTTP calls</h4>
          <table>
            <tbody>
              {node.http_calls.map((c, i) => (
                <tr key={i}>
                  <td>{c.method}</td>
                  <td>{c.url}</td>
                  <td>{c.status ?? c.error}</td>
                  <td>{c.duration_ms} ms</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {(node.llm_calls?.length ?? 0) > 0 && (
        <>
          <h4>Model calls</h4>
          <Json value={node.llm_calls} label="Model calls" />
        </>
      )}
    </div>
  );
}
