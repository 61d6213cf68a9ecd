import { useState, type FormEvent } from "react";
import { api } from "../api/client";
import { messageOf } from "../errors";
import type { Role } from "../session";
import { useListing } from "./listing";
import { RoleSelect } from "./RoleSelect";

/// API keys: a new key's secret is shown once, here, and never again.
export function ApiKeys() {
  const { items: keys, reload, message, setMessage, act } = useListing(() =>
    api.GET("/v1/api-keys").then(({ data }) => data?.api_keys ?? []),
  );
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("operator");
  const [days, setDays] = useState("");
  const [secret, setSecret] = useState<string | null>(null);

  const create = async (event: FormEvent) => {
    event.preventDefault();
    const { data, error } = await api.POST("/v1/api-keys", {
      body: { name, role, expires_in_days: days === "" ? null : Number(days) },
    });
    setSecret(data?.secret ?? null);
    setMessage(data ? null : messageOf(error, "creating failed"));
    reload();
  };
  const revoke = (id: string) => act(api.DELETE("/v1/api-keys/{id}", { params: { path: { id } } }), "Key revoked");

  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <form className="inline" onSubmit={create}>
        <label>
          Name <input required value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Role <RoleSelect label="Role" value={role} onChange={setRole} upTo="admin" />
        </label>
        <label>
          Expires in (days) <input type="number" min={1} value={days} onChange={(e) => setDays(e.target.value)} />
        </label>
        <button type="submit">Create key</button>
      </form>
      {secret && (
        <p role="alert" className="once">
          The key's secret, shown this once: <code data-testid="key-secret">{secret}</code>
        </p>
      )}
      {message && <p role="status">{message}</p>}
      <table className="list">
        <thead>
          <tr>
            <th>Name</th>
            <th>Role</th>
            <th>Created</th>
            <th>Expires</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k.id}>
              <td>{k.name}</td>
              <td>{k.role}</td>
              <td>{new Date(k.created_at).toLocaleDateString()}</td>
              <td>{k.expires_at ? new Date(k.expires_at).toLocaleDateString() : "never"}</td>
              <td>
                {k.revoked_at ? (
                  "revoked"
                ) : (
                  <button type="button" className="danger" onClick={() => revoke(k.id)}>
                    Revoke {k.name}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
