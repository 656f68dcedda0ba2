// The token is asked for once: it becomes a session cookie and is not kept by the page.
import { useState } from "preact/hooks";
import type { WhoAmI } from "../api/client";
import { login } from "../api/session";
import { problemText } from "../format";

export function Login({ onLogin }: { onLogin: (who: WhoAmI) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onLogin(await login(token));
    } catch (err) {
      setError(problemText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login" id="main">
      <form onSubmit={submit} class="card">
        <h1>moorage</h1>
        <p>Sign in with an API token (<code>moorage token create</code>). It opens a browser
          session; the page does not keep the token.</p>
        <label for="token">API token</label>
        <input id="token" type="password" autocomplete="current-password" value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)} required />
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy || !token.trim()}>Sign in</button>
      </form>
    </main>
  );
}
