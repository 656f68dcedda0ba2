// The shell: who is signed in, the header, and the page the path names.
import { useEffect, useState } from "preact/hooks";
import type { WhoAmI } from "./api/client";
import { logout, whoami } from "./api/session";
import { ContainersPage } from "./containers/ContainersPage";
import { problemText } from "./format";
import { Login } from "./login/Login";
import { LogsPage } from "./logs/LogsPage";
import { linkTo, useLocation } from "./router";
import { initTheme, toggleTheme, type Theme } from "./theme";

export function App() {
  const [who, setWho] = useState<WhoAmI | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [theme, setTheme] = useState<Theme>(initTheme);
  const loc = useLocation();

  useEffect(() => {
    whoami().then(setWho, (e) => setError(problemText(e)));
  }, []);

  if (error) return <main id="main" class="page"><h1>moorage</h1><p class="error" role="alert">{error}</p></main>;
  if (who === undefined) return <main id="main" class="page" aria-busy="true"><p>Loading…</p></main>;
  if (who === null) return <Login onLogin={setWho} />;

  let page;
  const m = loc.path.match(/^\/containers\/([^/]+)$/);
  if (m) {
    page = <main id="main" class="page"><h1>{decodeURIComponent(m[1] ?? "")}</h1></main>;
  } else if (loc.path === "/logs") {
    page = <LogsPage loc={loc} />;
  } else {
    page = <ContainersPage who={who} loc={loc} />;
  }

  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <a {...linkTo("/")} class="brand">moorage</a>
        <nav aria-label="Main">
          <a {...linkTo("/")} aria-current={loc.path === "/" ? "page" : undefined}>Containers</a>
          <a href="/docs">API docs</a>
        </nav>
        <span class="who" title={`signed in via ${who.via}`}>{who.name} · {who.role}</span>
        <button type="button" class="small" onClick={() => setTheme(toggleTheme(theme))}
          aria-label={`Switch to ${theme === "dark" ? "light" : "dark"} theme`}>
          {theme === "dark" ? "☀" : "☾"}
        </button>
        {who.auth_required && (
          <button type="button" class="small" onClick={() => void logout().then(() => setWho(null))}>Sign out</button>
        )}
      </header>
      {page}
    </>
  );
}
