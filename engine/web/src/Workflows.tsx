import { useEffect, useState, type FormEvent } from "react";
import { api, type Schemas } from "./api/client";
import { go, href } from "./route";
import { useCan } from "./session";
import { messageOf } from "./errors";

export function Workflows() {
  const [workflows, setWorkflows] = useState<Schemas["WorkflowSummary"][] | null>(null);
  const [newId, setNewId] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const canEdit = useCan("editor");

  useEffect(() => {
    api.GET("/v1/workflows").then(({ data }) => setWorkflows(data?.workflows ?? []));
  }, []);

  const create = async (event: FormEvent) => {
    event.preventDefault();
    const { data, error } = await api.POST("/v1/workflows", { body: { id: newId, nodes: [], edges: [] } });
    if (data) go("workflows", data.id);
    else setMessage(messageOf(error, "creating failed"));
  };

  if (workflows === null) return <p>Loading…</p>;
  return (
    <section aria-labelledby="workflows-title">
      <h2 id="workflows-title">Workflows</h2>
      {canEdit && (
        <form className="inline" onSubmit={create}>
          <label>
            New workflow id <input value={newId} onChange={(e) => setNewId(e.target.value)} required pattern="[a-z0-9][a-z0-9-]*" />
          </label>
          <button type="submit">Create</button>
          {message && <span role="status">{message}</span>}
        </form>
      )}
      {workflows.length === 0 ? (
        <p>No workflows yet.</p>
      ) : (
        <ul className="workflows">
          {workflows.map((w) => (
            <li key={w.id}>
              <a href={href("workflows", w.id)}>
                <code>{w.id}</code>
              </a>{" "}
              <span className="muted">version {w.version}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
