import { useState, type FormEvent } from "react";
import { api } from "../api/client";
import { useListing } from "./listing";

/// Secrets are write-only: names and times are listed, values never.
export function Secrets() {
  const { items: secrets, message, act } = useListing(() => api.GET("/v1/secrets").then(({ data }) => data?.secrets ?? []));
  const [name, setName] = useState("");
  const [value, setValue] = useState("");

  const save = (event: FormEvent) => {
    event.preventDefault();
    setValue("");
    return act(api.PUT("/v1/secrets/{name}", { params: { path: { name } }, body: { value } }), `Secret ${name} saved`);
  };
  const remove = (secret: string) => act(api.DELETE("/v1/secrets/{name}", { params: { path: { name: secret } } }), `Secret ${secret} deleted`);

  return (
    <section aria-labelledby="secrets-title">
      <h2 id="secrets-title">Secrets</h2>
      <form className="inline" onSubmit={save} autoComplete="off">
        <label>
          Name <input required value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Value <input type="password" required value={value} onChange={(e) => setValue(e.target.value)} autoComplete="new-password" />
        </label>
        <button type="submit">Save secret</button>
      </form>
      {message && <p role="status">{message}</p>}
      <table className="list">
        <tbody>
          {secrets.map((s) => (
            <tr key={s.name}>
              <td>
                <code>{s.name}</code>
              </td>
              <td className="muted">updated {new Date(s.updated_at).toLocaleString()}</td>
              <td>
                <button type="button" className="danger" onClick={() => remove(s.name)}>
                  Delete {s.name}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
