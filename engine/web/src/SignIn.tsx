import { useState, type FormEvent } from "react";
import { api, saveSession } from "./api/client";

/// Email and password; a first sign-in with a one-time password must
/// choose a new one before the API serves anything else.
export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [mustChange, setMustChange] = useState(false);
  const [newPassword, setNewPassword] = useState("");
  const [error, setError] = useState<string | null>(null);

  const signIn = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    const { data, error } = await api.POST("/v1/auth/login", { body: { email, password } });
    if (!data) {
      setError(error?.error.message ?? "sign-in failed");
      return;
    }
    saveSession({ access: data.access_token, refresh: data.refresh_token });
    if (data.password_change_required) setMustChange(true);
    else onSignedIn();
  };

  const change = async (event: FormEvent) => {
    event.preventDefault();
    const { error } = await api.POST("/v1/me/password", {
      body: { current_password: password, new_password: newPassword },
    });
    if (error) {
      setError(error.error.message);
      return;
    }
    const again = await api.POST("/v1/auth/login", { body: { email, password: newPassword } });
    if (!again.data) {
      setError("sign-in with the new password failed");
      return;
    }
    saveSession({ access: again.data.access_token, refresh: again.data.refresh_token });
    onSignedIn();
  };

  return (
    <main className="sign-in">
      <h1>Trellis</h1>
      {!mustChange ? (
        <form onSubmit={signIn} aria-label="Sign in">
          <label>
            Email
            <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} required autoFocus />
          </label>
          <label>
            Password
            <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} required />
          </label>
          <button type="submit">Sign in</button>
        </form>
      ) : (
        <form onSubmit={change} aria-label="Choose a password">
          <p>Choose your own password to continue.</p>
          <label>
            New password
            <input type="password" value={newPassword} onChange={(e) => setNewPassword(e.target.value)} required minLength={12} autoFocus />
          </label>
          <button type="submit">Save and continue</button>
        </form>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </main>
  );
}
