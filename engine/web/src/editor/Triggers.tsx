import { useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { useCan } from "../session";
import type { Document } from "./document";

type Trigger = Schemas["WorkflowTrigger"];
type Webhook = Schemas["WorkflowWebhookTrigger"];
const SCHEMES: Schemas["WorkflowScheme"][] = ["trellis", "stripe", "flutterwave", "twilio", "svix", "shopify", "github", "slack"];

function isWebhook(t: Trigger): t is { webhook: Webhook } {
  return "webhook" in t;
}

/// The workflow's triggers: a webhook (its URL to copy once saved, its
/// signing scheme and secret) and cron schedules with their next fires.
export function Triggers(props: { id: string; document: Document; version: number | null; secrets: string[]; readonly: boolean; onChange: (triggers: Trigger[]) => void }) {
  const triggers = props.document.triggers ?? [];
  const webhook = triggers.find(isWebhook)?.webhook;
  const crons = triggers.filter((t): t is Extract<Trigger, { cron: string }> => "cron" in t);
  const canSee = useCan("operator");
  const [saved, setSaved] = useState<Schemas["Triggers"] | null>(null);
  const [copied, setCopied] = useState(false);

  useEffect(() => {
    if (!canSee) return;
    api.GET("/v1/workflows/{id}/triggers", { params: { path: { id: props.id } } }).then(({ data }) => setSaved(data ?? null));
  }, [props.id, props.version, canSee]);

  const write = (nextWebhook: Webhook | undefined, nextCrons: typeof crons) =>
    props.onChange([...(nextWebhook ? [{ webhook: nextWebhook }] : []), ...nextCrons]);
  const url = saved?.webhook ? `${window.location.origin}${saved.webhook.path}` : null;

  const copy = async () => {
    if (!url) return;
    await navigator.clipboard?.writeText(url).catch(() => undefined);
    setCopied(true);
  };

  return (
    <section aria-label="Triggers">
      <fieldset disabled={props.readonly}>
        <legend>Webhook</legend>
        <label>
          <input type="checkbox" checked={webhook !== undefined} onChange={(e) => write(e.target.checked ? {} : undefined, crons)} /> Start a run on a
          POST to the workflow's hook URL
        </label>
        {webhook && (
          <>
            {/* Ours is the default: a document names only a provider's scheme. */}
            <label>
              Signature scheme{" "}
              <select value={webhook.verify ?? "trellis"} onChange={(e) => write({ ...webhook, verify: e.target.value === "trellis" ? null : (e.target.value as Webhook["verify"]) }, crons)}>
                {SCHEMES.map((s) => (
                  <option key={s}>{s}</option>
                ))}
              </select>
            </label>
            <label>
              Signing secret{" "}
              <select value={webhook.secret ?? ""} onChange={(e) => write({ ...webhook, secret: e.target.value || null }, crons)}>
                <option value="">none: the URL's token is the only key</option>
                {props.secrets.map((s) => (
                  <option key={s}>{s}</option>
                ))}
              </select>
            </label>
            <label>
              <input type="checkbox" checked={webhook.respond ?? false} onChange={(e) => write({ ...webhook, respond: e.target.checked }, crons)} /> Reply
              with the run's `respond` node
            </label>
          </>
        )}
      </fieldset>
      {url && (
        <p className="inline">
          <input readOnly value={url} aria-label="Webhook URL" size={40} onFocus={(e) => e.target.select()} />
          <button type="button" onClick={copy}>
            Copy
          </button>
          {copied && <span role="status">Copied</span>}
        </p>
      )}
      <fieldset disabled={props.readonly}>
        <legend>Schedules (UTC, seconds first)</legend>
        <ul>
          {crons.map((c, i) => (
            <li key={i} className="inline">
              <input
                aria-label={`Schedule ${i + 1}`}
                value={c.cron}
                onChange={(e) => write(webhook, crons.map((old, j) => (j === i ? { ...old, cron: e.target.value } : old)))}
              />
              <button type="button" onClick={() => write(webhook, crons.filter((_, j) => j !== i))}>
                Remove
              </button>
            </li>
          ))}
        </ul>
        <button type="button" onClick={() => write(webhook, [...crons, { cron: "0 0 * * * *", input: null }])}>
          Add a schedule
        </button>
      </fieldset>
      {saved && saved.schedules.length > 0 && (
        <>
          <h4>Next fires (saved version)</h4>
          <ul aria-label="Next fires">
            {saved.schedules.map((s) => (
              <li key={s.index}>
                <code>{s.expression}</code> → {new Date(s.next_fire_at).toLocaleString()}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
