// RJSF needs a validator to pick among `oneOf`/`anyOf` branches. Ajv (RJSF's
// own) compiles schemas with `new Function`, which the page's CSP forbids;
// @cfworker/json-schema interprets them instead. Whether a whole form is
// valid is the server's call (`POST /v1/workflows/validate`), so
// `validateFormData` reports nothing here.
import { Validator } from "@cfworker/json-schema";
import type { RJSFSchema, ValidatorType } from "@rjsf/utils";

function withDefinitions(schema: RJSFSchema, root: RJSFSchema | undefined): object {
  if (!root || schema === root) return schema;
  return { ...schema, $defs: root.$defs, definitions: root.definitions };
}

export const validator: ValidatorType = {
  validateFormData: () => ({ errors: [], errorSchema: {} }),
  isValid(schema, data, root) {
    try {
      return new Validator(withDefinitions(schema, root) as never, "2020-12", false).validate(data ?? null).valid;
    } catch {
      return false;
    }
  },
  rawValidation: () => ({ errors: [] }),
};
