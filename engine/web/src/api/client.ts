// The API client: typed by the OpenAPI document (schema.d.ts is generated
// from it by `npm run gen:api`), so a route or field the server does not
// have fails `tsc`.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

const STORAGE = "trellis.session";

export interface Session {
  access: string;
  refresh: string;
}

export function loadSession(): Session | null {
  const text = sessionStorage.getItem(STORAGE);
  return text ? (JSON.parse(text) as Session) : null;
}

export function saveSession(session: Session | null) {
  if (session) sessionStorage.setItem(STORAGE, JSON.stringify(session));
  else sessionStorage.removeItem(STORAGE);
}

export const api = createClient<paths>({ baseUrl: "" });

// One refresh at a time, shared by every request that found its token expired.
let refreshing: Promise<Session | null> | null = null;

async function refresh(): Promise<Session | null> {
  const session = loadSession();
  if (!session) return null;
  const answer = await fetch("/v1/auth/refresh", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: session.refresh }),
  });
  if (!answer.ok) {
    saveSession(null);
    return null;
  }
  const tokens = (await answer.json()) as Schemas["Session"];
  const next = { access: tokens.access_token, refresh: tokens.refresh_token };
  saveSession(next);
  return next;
}

const auth: Middleware = {
  onRequest({ request }) {
    const session = loadSession();
    if (session) request.headers.set("authorization", `Bearer ${session.access}`);
    return request;
  },
  async onResponse({ request, response }) {
    if (response.status !== 401 || request.url.includes("/v1/auth/")) return response;
    refreshing ??= refresh().finally(() => (refreshing = null));
    const session = await refreshing;
    if (!session) {
      window.dispatchEvent(new Event("trellis:signed-out"));
      return response;
    }
    const retry = request.clone();
    retry.headers.set("authorization", `Bearer ${session.access}`);
    return fetch(retry);
  },
};

api.use(auth);
