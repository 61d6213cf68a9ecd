import { createContext } from "react";

/// What a config form offers beside the schema: the tenant's secret names
/// for `format: secret-name` fields and the expressions a field may use.
export interface FormExtras {
  secrets: string[];
  suggestions: string[];
}

export const FormExtrasContext = createContext<FormExtras>({ secrets: [], suggestions: [] });
