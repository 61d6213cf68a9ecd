// A run's live events: `GET /v1/runs/{id}/events` needs the bearer token,
// which `EventSource` cannot send, so the stream is read with fetch.
import { fetchEventSource } from "@microsoft/fetch-event-source";
import { api, loadSession, type Schemas } from "../api/client";

export interface Handlers {
  snapshot: (detail: Schemas["RunDetail"]) => void;
  node: (event: Schemas["NodeEvent"]) => void;
  run: (event: Schemas["RunEvent"]) => void;
}

class Ended extends Error {}

/// Follows one run until its final event; returns a function that stops.
export function follow(id: string, handlers: Handlers): () => void {
  const stop = new AbortController();
  fetchEventSource(`/v1/runs/${encodeURIComponent(id)}/events`, {
    signal: stop.signal,
    openWhenHidden: true,
    // The token read on each (re)connect: a refresh in between is used.
    fetch: (input, init) => {
      const headers = new Headers(init?.headers);
      const session = loadSession();
      if (session) headers.set("authorization", `Bearer ${session.access}`);
      return fetch(input, { ...init, headers });
    },
    async onopen(response) {
      if (response.ok) return;
      // An expired token: any typed call refreshes it; then reconnect.
      if (response.status === 401) {
        await api.GET("/v1/me");
        throw new Error("reconnect");
      }
      throw new Ended(`events answered ${response.status}`);
    },
    onmessage(message) {
      if (!message.data) return;
      const data = JSON.parse(message.data);
      if (message.event === "snapshot") handlers.snapshot(data);
      else if (message.event === "node") handlers.node(data);
      else if (message.event === "run") handlers.run(data);
    },
    // The server closes the stream after the run's final event.
    onclose() {
      throw new Ended("closed");
    },
    onerror(error) {
      if (error instanceof Ended) throw error;
      return 1000;
    },
  }).catch(() => undefined);
  return () => stop.abort();
}
