import { useState, type FormEvent } from "react";
// The form alone: the package index also exports a test registry that
// imports Ajv, which this page does not use (see validator.ts).
import Form from "@rjsf/core/lib/components/Form.js";
import type { RJSFSchema } from "@rjsf/utils";
import { api } from "../api/client";
import { validator } from "../forms/validator";
import { go } from "../route";
import { messageOf } from "../errors";

/// Starts a run of a saved version: the input as a form generated from the
/// workflow's `input_schema`, or as JSON when it declares none.
export function RunForm({ id, version, inputSchema }: { id: string; version: number | null; inputSchema: unknown }) {
  const schema = inputSchema && typeof inputSchema === "object" && Object.keys(inputSchema).length > 0 ? (inputSchema as RJSFSchema) : null;
  const [input, setInput] = useState<unknown>(schema ? {} : null);
  const [text, setText] = useState("{}");
  const [message, setMessage] = useState<string | null>(null);

  const start = async (value: unknown) => {
    const { data, error } = await api.POST("/v1/workflows/{id}/runs", {
      params: { path: { id } },
      body: { input: value, version },
    });
    if (data) go("runs", data.run.id);
    else setMessage(messageOf(error, "starting failed"));
  };

  const startJson = (event: FormEvent) => {
    event.preventDefault();
    try {
      start(JSON.parse(text));
    } catch {
      setMessage("the input is not JSON");
    }
  };

  return (
    <section aria-label="Run">
      {schema ? (
        <Form
          schema={schema}
          formData={input}
          validator={validator}
          noHtml5Validate
          showErrorList={false}
          idPrefix="run-input"
          onChange={(e) => setInput(e.formData)}
          onSubmit={(e) => start(e.formData)}
        >
          <button type="submit">Start run</button>
        </Form>
      ) : (
        <form onSubmit={startJson}>
          <label>
            Input (JSON)
            <textarea rows={5} value={text} onChange={(e) => setText(e.target.value)} />
          </label>
          <button type="submit">Start run</button>
        </form>
      )}
      {message && <p role="status">{message}</p>}
    </section>
  );
}
