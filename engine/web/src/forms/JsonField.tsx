import { useState } from "react";
import type { FieldProps } from "@rjsf/utils";

/// A field whose schema allows any JSON (no `type`): edited as JSON text,
/// passed on once it parses.
export function JsonField({ fieldPathId, formData, onChange, readonly, disabled }: FieldProps) {
  const [text, setText] = useState(() => (formData === undefined ? "" : JSON.stringify(formData, null, 2)));
  const [invalid, setInvalid] = useState(false);
  const change = (next: string) => {
    setText(next);
    if (next.trim() === "") {
      setInvalid(false);
      onChange(undefined, fieldPathId.path);
      return;
    }
    try {
      onChange(JSON.parse(next), fieldPathId.path);
      setInvalid(false);
    } catch {
      setInvalid(true);
    }
  };
  // The label, description and errors come from the field template.
  return (
    <>
      <textarea
        id={fieldPathId.$id}
        className="json-input"
        rows={4}
        value={text}
        placeholder="JSON"
        readOnly={readonly || disabled}
        aria-invalid={invalid}
        onChange={(e) => change(e.target.value)}
      />
      {invalid && <p className="error-text">not JSON yet: the last valid value is kept</p>}
    </>
  );
}

const TYPED = ["type", "$ref", "oneOf", "anyOf", "allOf", "enum", "const", "properties", "items"];

/// `ui:field: json` for every property of the root whose schema says
/// nothing of its type.
export function jsonFields(schema: { properties?: Record<string, unknown> }): Record<string, { "ui:field": string }> {
  const ui: Record<string, { "ui:field": string }> = {};
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    if (property && typeof property === "object" && !TYPED.some((key) => key in property)) ui[name] = { "ui:field": "json" };
  }
  return ui;
}
