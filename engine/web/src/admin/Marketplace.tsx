import { useEffect, useState, type FormEvent } from "react";
import { api, type Schemas } from "../api/client";
import { messageOf } from "../errors";

interface Requested {
  hosts?: string[];
  secrets?: string[];
  kv?: boolean;
  llm?: boolean;
}

/// The marketplace: search, a plugin's versions, and an install that
/// grants only the requested capabilities the admin ticks.
export function Marketplace({ installed, onInstalled }: { installed: string[]; onInstalled: () => void }) {
  const [query, setQuery] = useState("");
  const [found, setFound] = useState<Schemas["PluginSummary"][]>([]);
  const [picked, setPicked] = useState<Schemas["PluginSummary"] | null>(null);

  const search = async (event?: FormEvent) => {
    event?.preventDefault();
    const { data } = await api.GET("/v1/marketplace/plugins", { params: { query: { q: query || undefined } } });
    setFound(data?.plugins ?? []);
  };
  useEffect(() => {
    search();
    // Only the first listing: later ones follow the search form.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  return (
    <section aria-labelledby="market-title">
      <h2 id="market-title">Marketplace</h2>
      <form className="inline" onSubmit={search} role="search">
        <input type="search" aria-label="Search the marketplace" value={query} onChange={(e) => setQuery(e.target.value)} />
        <button type="submit">Search</button>
      </form>
      <ul className="market">
        {found.map((p) => {
          const name = p.name;
          return (
            <li key={name}>
              <button type="button" className="link" onClick={() => setPicked(p)}>
                <code>{name}</code>
              </button>{" "}
              {p.latest_version} · {p.category} · {p.description}
              {installed.includes(name) && <span className="badge">installed</span>}
            </li>
          );
        })}
      </ul>
      {picked && <Install key={picked.name} plugin={picked} onInstalled={onInstalled} />}
    </section>
  );
}

function Install({ plugin, onInstalled }: { plugin: Schemas["PluginSummary"]; onInstalled: () => void }) {
  // `name` is `publisher/plugin`.
  const name = plugin.name;
  const path = { publisher: name.split("/")[0], plugin: name.split("/")[1] ?? "" };
  const [versions, setVersions] = useState<Schemas["VersionSummary"][]>([]);
  const [version, setVersion] = useState(plugin.latest_version);
  const [requested, setRequested] = useState<Requested>({});
  const [granted, setGranted] = useState<Set<string>>(new Set());
  const [message, setMessage] = useState<string | null>(null);

  useEffect(() => {
    api.GET("/v1/marketplace/plugins/{publisher}/{plugin}", { params: { path } }).then(({ data }) => setVersions(data?.versions ?? []));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [name]);
  useEffect(() => {
    api.GET("/v1/marketplace/plugins/{publisher}/{plugin}/{version}", { params: { path: { ...path, version } } }).then(({ data }) => {
      setRequested((data?.capabilities ?? {}) as Requested);
      setGranted(new Set());
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [name, version]);

  const items = [
    ...(requested.hosts ?? []).map((h) => ({ key: `host:${h}`, label: `reach ${h}` })),
    ...(requested.secrets ?? []).map((s) => ({ key: `secret:${s}`, label: `read the secret ${s}` })),
    ...(requested.kv ? [{ key: "kv", label: "keep key-value state" }] : []),
    ...(requested.llm ? [{ key: "llm", label: "call language models" }] : []),
  ];
  const toggle = (key: string, on: boolean) => {
    const next = new Set(granted);
    if (on) next.add(key);
    else next.delete(key);
    setGranted(next);
  };

  const install = async (event: FormEvent) => {
    event.preventDefault();
    const pick = (prefix: string) => [...granted].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
    const { data, error } = await api.POST("/v1/plugins", {
      body: {
        name,
        // The newest version stays upgradable within its major; an older
        // one picked on purpose is pinned.
        version: version === plugin.latest_version ? `^${version}` : `=${version}`,
        grants: { hosts: pick("host:"), secrets: pick("secret:"), kv: granted.has("kv"), llm: granted.has("llm") },
      },
    });
    setMessage(data ? `Installed ${name} ${version}` : messageOf(error, "install refused"));
    if (data) onInstalled();
  };

  return (
    <form className="install" onSubmit={install} aria-label={`Install ${name}`}>
      <h3>
        Install <code>{name}</code>
      </h3>
      <label>
        Version{" "}
        <select value={version} onChange={(e) => setVersion(e.target.value)}>
          {versions.map((v) => (
            <option key={v.version} value={v.version} disabled={Boolean(v.yanked_at)}>
              {v.version}
              {v.yanked_at ? " (yanked)" : ""}
            </option>
          ))}
        </select>
      </label>
      <fieldset>
        <legend>Grant what it requests</legend>
        {items.length === 0 && <p className="muted">It requests nothing beyond the sandbox.</p>}
        {items.map((item) => (
          <label key={item.key}>
            <input type="checkbox" checked={granted.has(item.key)} onChange={(e) => toggle(item.key, e.target.checked)} /> {item.label}
          </label>
        ))}
      </fieldset>
      <button type="submit">Install</button>
      {message && <span role="status">{message}</span>}
    </form>
  );
}
