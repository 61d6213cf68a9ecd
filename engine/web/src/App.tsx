import { useEffect, useState } from "react";
import { api, loadSession, saveSession, type Schemas } from "./api/client";
import { SignIn } from "./SignIn";
import { Workflows } from "./Workflows";
import { Editor } from "./editor/Editor";

export function App() {
  const [signedIn, setSignedIn] = useState(loadSession() !== null);
  const [me, setMe] = useState<Schemas["Me"] | null>(null);
  const [open, setOpen] = useState<string | null>(null);

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

  return (
    <div className="shell">
      <header>
        <strong>Trellis</strong>
        {me && (
          <span className="who" data-testid="who">
            tenant <code>{me.tenant_id}</code> · role <code>{me.role}</code>
          </span>
        )}
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        {open ? <Editor id={open} onClose={() => setOpen(null)} /> : <Workflows onOpen={setOpen} />}
      </main>
    </div>
  );
}
