// A real `trellis serve` on 127.0.0.1 with a fresh data directory and one
// tenant, for the browser tests.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface Trellis {
  url: string;
  owner: { email: string; password: string };
  apiKey: string;
  tenantId: string;
  stop: () => void;
}

// The binary `cargo test` built: `$TRELLIS_BIN`, else under
// `$CARGO_TARGET_DIR`, else the repository's `target/`.
function binary(): string {
  if (process.env.TRELLIS_BIN) return process.env.TRELLIS_BIN;
  if (process.env.CARGO_TARGET_DIR) return join(process.env.CARGO_TARGET_DIR, "debug", "trellis");
  return fileURLToPath(new URL("../../../target/debug/trellis", import.meta.url));
}

export async function startTrellis(): Promise<Trellis> {
  const data = mkdtempSync(join(tmpdir(), "trellis-e2e-"));
  const env = { ...process.env, XDG_CACHE_HOME: data };
  const created = JSON.parse(
    execFileSync(binary(), ["admin", "create-tenant", "Acme", "--owner", "owner@acme.test", "--data-dir", data], { env }).toString(),
  );
  const child: ChildProcess = spawn(binary(), ["serve", "--listen", "127.0.0.1:0", "--data-dir", data], { env });
  const url = await new Promise<string>((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`trellis serve did not start:\n${seen}`)), 120_000);
    const read = (chunk: Buffer) => {
      seen += chunk.toString();
      const found = seen.match(/trellis listening on (http:\/\/[^\s]+)/);
      if (found) {
        clearTimeout(timer);
        resolve(found[1].replace(/\/$/, ""));
      }
    };
    child.stderr?.on("data", read);
    child.stdout?.on("data", read);
    child.on("exit", (code) => reject(new Error(`trellis serve exited (${code}):\n${seen}`)));
  });
  return {
    url,
    owner: { email: "owner@acme.test", password: created.owner_password },
    apiKey: created.api_key,
    tenantId: created.tenant_id,
    stop: () => child.kill("SIGTERM"),
  };
}
