import { useEffect, useState } from "react";
import { api, type Schemas } from "./api/client";

export function Workflows({ onOpen }: { onOpen: (id: string) => void }) {
  const [workflows, setWorkflows] = useState<Schemas["WorkflowSummary"][] | null>(null);

  useEffect(() => {
    api.GET("/v1/workflows").then(({ data }) => setWorkflows(data?.workflows ?? []));
  }, []);

  if (workflows === null) return <p>Loading…</p>;
  return (
    <section aria-labelledby="workflows-title">
      <h2 id="workflows-title">Workflows</h2>
      {workflows.length === 0 ? (
        <p>No workflows yet.</p>
      ) : (
        <ul className="workflows">
          {workflows.map((w) => (
            <li key={w.id}>
              <button type="button" className="link" onClick={() => onOpen(w.id)}>
                <code>{w.id}</code>
              </button>{" "}
              <span className="muted">version {w.version}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
