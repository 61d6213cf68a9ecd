import { useState, type FormEvent } from "react";
import { api, type Schemas } from "../api/client";
import { messageOf } from "../errors";
import type { Role } from "../session";
import { useListing } from "./listing";
import { RoleSelect } from "./RoleSelect";

/// The tenant's members: add one (their one-time password shown once),
/// change a role, remove.
export function Members() {
  const { items: members, reload, message, setMessage, act } = useListing(() =>
    api.GET("/v1/members").then(({ data }) => data?.members ?? []),
  );
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [created, setCreated] = useState<Schemas["MemberCreated"] | null>(null);

  const add = async (event: FormEvent) => {
    event.preventDefault();
    const { data, error } = await api.POST("/v1/members", { body: { email, role } });
    setCreated(data ?? null);
    setMessage(data ? null : messageOf(error, "adding failed"));
    if (data) setEmail("");
    reload();
  };
  const change = (id: string, next: Role) =>
    act(api.PATCH("/v1/members/{id}", { params: { path: { id } }, body: { role: next } }), "Role changed");
  const remove = (id: string) => act(api.DELETE("/v1/members/{id}", { params: { path: { id } } }), "Member removed");

  return (
    <section aria-labelledby="members-title">
      <h2 id="members-title">Members</h2>
      <form className="inline" onSubmit={add}>
        <label>
          Email <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          Role <RoleSelect label="Role" value={role} onChange={setRole} />
        </label>
        <button type="submit">Add member</button>
      </form>
      {created && (
        <p role="alert" className="once">
          {created.member.email}'s one-time password (shown once): <code data-testid="one-time-password">{created.password}</code>
        </p>
      )}
      {message && <p role="status">{message}</p>}
      <table className="list">
        <tbody>
          {members.map((m) => (
            <tr key={m.id}>
              <td>{m.email}</td>
              <td>
                <RoleSelect label={`Role of ${m.email}`} value={m.role} onChange={(next) => change(m.id, next)} />
              </td>
              <td>{m.password_change_required ? "password not yet chosen" : ""}</td>
              <td>
                <button type="button" className="danger" onClick={() => remove(m.id)}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
