import { api } from "../api/client";
import { messageOf } from "../errors";
import { useCan } from "../session";
import { Marketplace } from "./Marketplace";
import { useListing } from "./listing";

/// Installed plugins with their grants; admins upgrade, uninstall and
/// install from the marketplace.
export function Plugins() {
  const canAdmin = useCan("admin");
  const { items: installed, reload, message, setMessage, act } = useListing(() =>
    api.GET("/v1/plugins").then(({ data }) => data?.plugins ?? []),
  );

  const split = (name: string) => {
    const [publisher, plugin] = name.split("/");
    return { publisher, plugin };
  };
  const upgrade = async (name: string) => {
    const { data, error } = await api.POST("/v1/plugins/{publisher}/{plugin}/upgrade", { params: { path: split(name) }, body: {} });
    setMessage(data ? `${name}: ${data.from} → ${data.install.version}` : messageOf(error, "upgrade refused"));
    reload();
  };
  const uninstall = (name: string) => act(api.DELETE("/v1/plugins/{publisher}/{plugin}", { params: { path: split(name) } }), `${name} uninstalled`);

  return (
    <section aria-labelledby="plugins-title">
      <h2 id="plugins-title">Installed plugins</h2>
      {message && <p role="status">{message}</p>}
      <table className="list">
        <thead>
          <tr>
            <th>Plugin</th>
            <th>Version</th>
            <th>Granted</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {installed.map(({ install, grants }) => (
            <tr key={install.plugin}>
              <td>
                <code>{install.plugin}</code>
              </td>
              <td>
                {install.version} <span className="muted">({install.requirement})</span>
              </td>
              <td className="muted">
                {[...(grants.hosts ?? []), ...(grants.secrets ?? []).map((s) => `secret ${s}`), grants.kv ? "kv" : "", grants.llm ? "llm" : ""]
                  .filter(Boolean)
                  .join(", ") || "sandbox only"}
              </td>
              <td className="inline">
                {canAdmin && (
                  <>
                    <button type="button" onClick={() => upgrade(install.plugin)}>
                      Upgrade {install.plugin}
                    </button>
                    <button type="button" className="danger" onClick={() => uninstall(install.plugin)}>
                      Uninstall {install.plugin}
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {canAdmin && <Marketplace installed={installed.map((i) => i.install.plugin)} onInstalled={reload} />}
    </section>
  );
}
