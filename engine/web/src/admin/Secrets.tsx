import { useEffect, useState, type FormEvent } from "react";
import { api, type Schemas } from "../api/client";
import { messageOf } from "../errors";

/// Secrets are write-only: names and times are listed, values never.
export function Secrets() {
  const [secrets, setSecrets] = useState<Schemas["SecretEntry"][]>([]);
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [message, setMessage] = useState<string | null>(null);

  const load = () => api.GET("/v1/secrets").then(({ data }) => setSecrets(data?.secrets ?? []));
  useEffect(() => {
    load();
  }, []);

  const save = async (event: FormEvent) => {
    event.preventDefault();
    const { error } = await api.PUT("/v1/secrets/{name}", { params: { path: { name } }, body: { value } });
    setMessage(error ? messageOf(error, "refused") : `Secret ${name} saved`);
    setValue("");
    load();
  };
  const remove = async (secret: string) => {
    const { error } = await api.DELETE("/v1/secrets/{name}", { params: { path: { name: secret } } });
    setMessage(error ? messageOf(error, "refused") : `Secret ${secret} deleted`);
    load();
  };

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
