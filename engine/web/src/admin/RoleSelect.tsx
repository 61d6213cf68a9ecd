import type { Role } from "../session";

/// A role picker; `upTo` is the highest role offered (API keys stop at admin).
export function RoleSelect({ label, value, onChange, upTo = "owner" }: { label: string; value: Role; onChange: (role: Role) => void; upTo?: Role }) {
  const roles: Role[] = ["viewer", "operator", "editor", "admin", "owner"];
  return (
    <select aria-label={label} value={value} onChange={(e) => onChange(e.target.value as Role)}>
      {roles.slice(0, roles.indexOf(upTo) + 1).map((r) => (
        <option key={r}>{r}</option>
      ))}
    </select>
  );
}
