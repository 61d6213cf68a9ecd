import { useEffect, useState } from "react";
import { api, loadSession, saveSession, type Schemas } from "./api/client";
import { SignIn } from "./SignIn";
import { Workflows } from "./Workflows";
import { Editor } from "./editor/Editor";
import { RunHistory } from "./runs/RunHistory";
import { RunView } from "./runs/RunView";
import { Members } from "./admin/Members";
import { ApiKeys } from "./admin/ApiKeys";
import { Secrets } from "./admin/Secrets";
import { Plugins } from "./admin/Plugins";
import { Usage } from "./admin/Usage";
import { atLeast, MeContext, type Role } from "./session";
import { href, useRoute } from "./route";

/// The views in the navigation, each with the least role that may use it.
const VIEWS: { path: string; title: string; role: Role }[] = [
  { path: "workflows", title: "Workflows", role: "viewer" },
  { path: "runs", title: "Runs", role: "viewer" },
  { path: "plugins", title: "Plugins", role: "viewer" },
  { path: "usage", title: "Plan & usage", role: "viewer" },
  { path: "secrets", title: "Secrets", role: "editor" },
  { path: "members", title: "Members", role: "admin" },
  { path: "keys", title: "API keys", role: "admin" },
];

export function App() {
  const [signedIn, setSignedIn] = useState(loadSession() !== null);
  const [me, setMe] = useState<Schemas["Me"] | null>(null);
  const route = useRoute();

  useEffect(() => {
    const out = () => setSignedIn(false);
    window.addEventListener("trellis:signed-out", out);
    return () => window.removeEventListener("trellis:signed-out", out);
  }, []);

  useEffect(() => {
    if (!signedIn) return;
    api.GET("/v1/me").then(({ data }) => setMe(data ?? null));
  }, [signedIn]);

  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} />;

  const signOut = () => {
    saveSession(null);
    setMe(null);
    setSignedIn(false);
  };

  const [view = "workflows", id, ...rest] = route;
  const allowed = VIEWS.filter((v) => atLeast(me?.role, v.role));

  return (
    <MeContext.Provider value={me}>
      <div className="shell">
        <header>
          <strong>Trellis</strong>
          <nav aria-label="Views">
            {allowed.map((v) => (
              <a key={v.path} href={href(v.path)} aria-current={view === v.path ? "page" : undefined}>
                {v.title}
              </a>
            ))}
          </nav>
          {me && (
            <span className="who" data-testid="who">
              tenant <code>{me.tenant_id}</code> · role <code>{me.role}</code>
            </span>
          )}
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </header>
        <main>{me && <View view={view} id={id} rest={rest} role={me.role} />}</main>
      </div>
    </MeContext.Provider>
  );
}

function View({ view, id, rest, role }: { view: string; id?: string; rest: string[]; role: Role }) {
  const entry = VIEWS.find((v) => v.path === view);
  if (!entry || !atLeast(role, entry.role)) return <p role="alert">This view is not open to your role.</p>;
  switch (view) {
    case "workflows": {
      if (!id) return <Workflows />;
      if (rest[0] === "runs") return <RunHistory key={id} workflow={id} />;
      const version = rest[0] === "versions" && rest[1] ? Number(rest[1]) : undefined;
      return <Editor key={`${id}@${version ?? "latest"}`} id={id} version={version} />;
    }
    case "runs":
      return id ? <RunView key={id} id={id} /> : <RunHistory />;
    case "plugins":
      return <Plugins />;
    case "usage":
      return <Usage />;
    case "secrets":
      return <Secrets />;
    case "members":
      return <Members />;
    case "keys":
      return <ApiKeys />;
    default:
      return null;
  }
}
