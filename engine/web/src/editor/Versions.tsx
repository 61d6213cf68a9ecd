import { useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { href } from "../route";

/// Saved versions, newest first; each opens in the editor.
export function Versions({ id, shown, latest }: { id: string; shown: number | null; latest: number | null }) {
  const [versions, setVersions] = useState<Schemas["WorkflowVersionEntry"][]>([]);
  useEffect(() => {
    api.GET("/v1/workflows/{id}/versions", { params: { path: { id } } }).then(({ data }) => setVersions(data?.versions ?? []));
  }, [id, latest]);
  return (
    <ul aria-label="Versions">
      {versions.map((v) => (
        <li key={v.version}>
          <a href={v.version === latest ? href("workflows", id) : href("workflows", id, "versions", String(v.version))} aria-current={v.version === shown ? "true" : undefined}>
            version {v.version}
          </a>{" "}
          <span className="muted">{new Date(v.created_at).toLocaleString()}</span>
        </li>
      ))}
    </ul>
  );
}
