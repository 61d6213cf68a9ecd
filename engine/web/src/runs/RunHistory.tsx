import { useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { href } from "../route";

const STATUSES = ["", "pending", "running", "succeeded", "failed", "cancelled"];
const PAGE = 25;

/// Runs, newest first, filtered by status and workflow, a page at a time.
export function RunHistory({ workflow: initial = "" }: { workflow?: string }) {
  const [status, setStatus] = useState("");
  const [workflow, setWorkflow] = useState(initial);
  const [workflows, setWorkflows] = useState<string[]>([]);
  // The cursors of the pages before this one, to go back.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState<Schemas["RunList"] | null>(null);
  const cursor = cursors[cursors.length - 1];

  useEffect(() => {
    api.GET("/v1/workflows").then(({ data }) => setWorkflows(data?.workflows.map((w) => w.id) ?? []));
  }, []);
  useEffect(() => {
    api
      .GET("/v1/runs", { params: { query: { status: status || undefined, workflow: workflow || undefined, cursor, limit: PAGE } } })
      .then(({ data }) => setPage(data ?? { runs: [] }));
  }, [status, workflow, cursor]);

  return (
    <section aria-labelledby="runs-title">
      <h2 id="runs-title">Runs</h2>
      <label>
        Workflow{" "}
        <select
          value={workflow}
          onChange={(e) => {
            setWorkflow(e.target.value);
            setCursors([undefined]);
          }}
        >
          <option value="">any</option>
          {workflows.map((w) => (
            <option key={w}>{w}</option>
          ))}
        </select>
      </label>{" "}
      <label>
        Status{" "}
        <select
          value={status}
          onChange={(e) => {
            setStatus(e.target.value);
            setCursors([undefined]);
          }}
        >
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s || "any"}
            </option>
          ))}
        </select>
      </label>
      <table className="list">
        <thead>
          <tr>
            <th>Run</th>
            <th>Workflow</th>
            <th>Status</th>
            <th>Started</th>
          </tr>
        </thead>
        <tbody>
          {page?.runs.map((r) => (
            <tr key={r.id}>
              <td>
                <a href={href("runs", r.id)}>
                  <code>{r.id}</code>
                </a>
              </td>
              <td>
                <code>{r.workflow_id}</code>
                {r.workflow_version ? ` v${r.workflow_version}` : ""}
              </td>
              <td className={`status-${r.status}`}>{r.status}</td>
              <td>{new Date(r.created_at).toLocaleString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page?.runs.length === 0 && <p>No runs.</p>}
      <p className="inline">
        <button type="button" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          Newer
        </button>
        <button type="button" disabled={!page?.next_cursor} onClick={() => page?.next_cursor && setCursors([...cursors, page.next_cursor])}>
          Older
        </button>
      </p>
    </section>
  );
}
