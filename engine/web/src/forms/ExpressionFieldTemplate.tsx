import { useContext, useId, useState } from "react";
import { getTemplate, getUiOptions, type FieldTemplateProps } from "@rjsf/utils";
import { FormExtrasContext } from "./context";

const WHOLE = /^\{\{\s*([\s\S]*?)\s*\}\}$/;

function scalar(schema: FieldTemplateProps["schema"]): boolean {
  const type = schema.type;
  if (schema.enum || schema.const !== undefined) return true;
  if (Array.isArray(type)) return !type.includes("object") && !type.includes("array");
  return type === "string" || type === "number" || type === "integer" || type === "boolean";
}

/// Every field of a config form; a scalar field can switch to an
/// expression (`{{ … }}`, evaluated when the node runs) with suggestions for
/// `input.…` and `nodes.<id>.output…`.
export function ExpressionFieldTemplate(props: FieldTemplateProps) {
  const { id, label, children, errors, help, description, hidden, required, displayLabel, registry, uiSchema, schema, formData, onChange, fieldPathId, disabled, readonly } = props;
  const { suggestions } = useContext(FormExtrasContext);
  const whole = typeof formData === "string" ? WHOLE.exec(formData) : null;
  const [expression, setExpression] = useState(whole !== null);
  const list = useId();
  const Wrap = getTemplate("WrapIfAdditionalTemplate", registry, getUiOptions(uiSchema));
  if (hidden) return <div className="hidden">{children}</div>;
  const canSwitch = scalar(schema) && fieldPathId.path.length > 0 && !disabled && !readonly;
  // RJSF labels only typed fields; an any-JSON field (JsonField) is labelled here too.
  const labelled = displayLabel || getUiOptions(uiSchema).field === "json" || uiSchema?.["ui:field"] === "json";

  const toggle = () => {
    if (expression) onChange(undefined, fieldPathId.path);
    else onChange("{{  }}", fieldPathId.path);
    setExpression(!expression);
  };

  return (
    <Wrap {...props}>
      <div className="field-head">
        {labelled && (
          <label htmlFor={id}>
            {label}
            {required && <span aria-hidden="true"> *</span>}
          </label>
        )}
        {canSwitch && (
          <button
            type="button"
            className="fx"
            aria-pressed={expression}
            aria-label={`${label}: use an expression`}
            title="Use an expression"
            onClick={toggle}
          >
            ƒx
          </button>
        )}
      </div>
      {labelled && description}
      {expression && canSwitch ? (
        <>
          <input
            id={id}
            className="expression"
            list={list}
            aria-label={`${label} expression`}
            value={whole ? whole[1] : typeof formData === "string" ? formData : ""}
            placeholder="input.field or nodes.<id>.output"
            onChange={(e) => onChange(`{{ ${e.target.value} }}`, fieldPathId.path)}
          />
          <datalist id={list}>
            {suggestions.map((s) => (
              <option key={s} value={s} />
            ))}
          </datalist>
        </>
      ) : (
        children
      )}
      {errors}
      {help}
    </Wrap>
  );
}
