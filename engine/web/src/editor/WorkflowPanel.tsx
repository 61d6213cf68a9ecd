import { useState } from "react";
import type { Schemas } from "../api/client";
import { useCan } from "../session";
import { RunForm } from "../runs/RunForm";
import { Triggers } from "./Triggers";
import { Versions } from "./Versions";
import type { Document } from "./document";

type Tab = "run" | "triggers" | "versions";

/// With no node selected: the workflow's run form, triggers and versions.
export function WorkflowPanel(props: {
  id: string;
  document: Document;
  version: number | null;
  latest: number | null;
  secrets: string[];
  readonly: boolean;
  onTriggers: (triggers: Schemas["WorkflowTrigger"][]) => void;
}) {
  const canRun = useCan("operator");
  const [tab, setTab] = useState<Tab>(canRun ? "run" : "versions");
  const tabs: [Tab, string][] = [...(canRun ? [["run", "Run"] as [Tab, string]] : []), ["triggers", "Triggers"], ["versions", "Versions"]];
  return (
    <aside className="side-panel" aria-label="Workflow">
      <div role="tablist" aria-label="Workflow panels" className="tabs">
        {tabs.map(([key, title]) => (
          <button key={key} type="button" role="tab" aria-selected={tab === key} onClick={() => setTab(key)}>
            {title}
          </button>
        ))}
      </div>
      {tab === "run" && <RunForm id={props.id} version={props.version} inputSchema={props.document.input_schema} />}
      {tab === "triggers" && (
        <Triggers id={props.id} document={props.document} version={props.version} secrets={props.secrets} readonly={props.readonly} onChange={props.onTriggers} />
      )}
      {tab === "versions" && <Versions id={props.id} shown={props.version} latest={props.latest} />}
    </aside>
  );
}
