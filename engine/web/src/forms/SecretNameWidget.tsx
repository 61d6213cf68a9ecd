import { useContext, useId } from "react";
import type { WidgetProps } from "@rjsf/utils";
import { FormExtrasContext } from "./context";

/// A `format: secret-name` field: the name of one of the tenant's secrets,
/// offered from the list (values are never shown).
export function SecretNameWidget({ id, value, required, disabled, readonly, onChange, onBlur, onFocus }: WidgetProps) {
  const { secrets } = useContext(FormExtrasContext);
  const list = useId();
  return (
    <>
      <input
        id={id}
        list={list}
        value={value ?? ""}
        required={required}
        disabled={disabled || readonly}
        placeholder="a secret's name"
        onChange={(e) => onChange(e.target.value === "" ? undefined : e.target.value)}
        onBlur={() => onBlur(id, value)}
        onFocus={() => onFocus(id, value)}
      />
      <datalist id={list}>
        {secrets.map((name) => (
          <option key={name} value={name} />
        ))}
      </datalist>
    </>
  );
}
