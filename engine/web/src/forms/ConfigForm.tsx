// The form alone: the package index also exports a test registry that
// imports Ajv, which this page does not use (see validator.ts).
import Form from "@rjsf/core/lib/components/Form.js";
import type { ErrorSchema, RJSFSchema, UiSchema } from "@rjsf/utils";
import { validator } from "./validator";
import { SecretNameWidget } from "./SecretNameWidget";
import { ExpressionFieldTemplate } from "./ExpressionFieldTemplate";
import { FormExtrasContext, type FormExtras } from "./context";
import { JsonField, jsonFields } from "./JsonField";

const widgets = { "secret-name": SecretNameWidget };
const templates = { FieldTemplate: ExpressionFieldTemplate, ButtonTemplates: { SubmitButton: () => null } };
const fields = { json: JsonField };

/// A node's config, as a form generated from its kind's JSON Schema. It
/// saves nothing itself: every change goes to `onChange`, and the server's
/// problems come back as `errors` at the fields they name.
export function ConfigForm(props: {
  schema: unknown;
  value: unknown;
  onChange: (value: unknown) => void;
  errors?: ErrorSchema;
  extras: FormExtras;
  readonly?: boolean;
  idPrefix: string;
}) {
  // The root's title is the config type's name (`RenderConfig`): the panel
  // already names the kind.
  const given = (props.schema && typeof props.schema === "object" ? props.schema : {}) as RJSFSchema;
  const schema: RJSFSchema = { ...given, title: undefined };
  const ui: UiSchema = { "ui:submitButtonOptions": { norender: true }, ...jsonFields(given as { properties?: Record<string, unknown> }) };
  return (
    <FormExtrasContext.Provider value={props.extras}>
      <Form
        schema={schema}
        uiSchema={ui}
        formData={props.value}
        validator={validator}
        widgets={widgets}
        fields={fields}
        templates={templates}
        noHtml5Validate
        showErrorList={false}
        extraErrors={props.errors}
        readonly={props.readonly}
        idPrefix={props.idPrefix}
        // The document keeps what the user set; the plugin applies its
        // own defaults to what is left out.
        experimental_defaultFormStateBehavior={{ emptyObjectFields: "skipDefaults" }}
        onChange={(event) => props.onChange(event.formData)}
      />
    </FormExtrasContext.Provider>
  );
}
