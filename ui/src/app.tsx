// The shell: who is signed in, the header, and the page the path names.
import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import { SIGNED_OUT, type WhoAmI } from "./api/client";
import { can, firstWhoami, logout } from "./api/session";
import { ContainerPage } from "./containers/ContainerPage";
import { ContainersPage } from "./containers/ContainersPage";
import { Finder } from "./finder/Finder";
import { HostsPage } from "./hosts/HostsPage";
import { listHosts } from "./hosts/hosts";
import { problemText } from "./format";
import { Login } from "./login/Login";
import { LogsPage } from "./logs/LogsPage";
import { extraPage, navFor } from "./pages";
import { linkTo, useLocation } from "./router";
import { initTheme, toggleTheme, type Theme } from "./theme";

export function App() {
  const [who, setWho] = useState<WhoAmI | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [theme, setTheme] = useState<Theme>(initTheme);
  const loc = useLocation();
  const [finder, setFinder] = useState(false);
  const [several, setSeveral] = useState(false);
  const [Banner, setBanner] = useState<ComponentType | null>(null);

  // Keyboard: Ctrl/Cmd-K the finder, `/` the page's search, Esc leaves a field.
  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      const t = e.target as HTMLElement | null;
      const typing = !!t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT");
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") {
        e.preventDefault();
        setFinder(true);
      } else if (e.key === "/" && !typing) {
        const search = document.querySelector<HTMLInputElement>("[data-search]");
        if (search) {
          e.preventDefault();
          search.focus();
          search.select();
        }
      } else if (e.key === "Escape" && typing && t instanceof HTMLInputElement && !t.closest("dialog")) {
        t.blur();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  useEffect(() => {
    firstWhoami().then(setWho, (e) => setError(problemText(e)));
    const out = (): void => setWho(null);
    window.addEventListener(SIGNED_OUT, out);
    return () => window.removeEventListener(SIGNED_OUT, out);
  }, []);
  // The Hosts page is offered when there is more than one engine.
  useEffect(() => {
    if (who) listHosts().then((h) => setSeveral((h?.length ?? 0) > 1), () => setSeveral(false));
  }, [who]);

  // The live alert banner (admins: the alert stream is theirs), its own chunk: loaded
  // once signed in, so the first page's budget does not carry it.
  useEffect(() => {
    if (who && can(who, "admin")) void import("./alerts/Banner").then((m) => setBanner(() => m.AlertBanner), () => undefined);
    else setBanner(null);
  }, [who]);

  if (error) return <main id="main" class="page"><h1>moorage</h1><p class="error" role="alert">{error}</p></main>;
  if (who === null) return <Login onLogin={setWho} />;

  let page;
  const m = loc.path.match(/^\/containers\/([^/]+)$/);
  if (loc.path === "/logs") {
    // The log viewer needs no identity to draw (it offers no role's control and the
    // API checks its streams): it does not wait for the sign-in check, so its streams
    // open in parallel with whoami; the header fills in when the answer comes.
    page = <LogsPage loc={loc} />;
  } else if (who === undefined) {
    return <main id="main" class="page" aria-busy="true"><h1 class="sr-only">moorage</h1><p>Loading…</p></main>;
  } else if (m) {
    const name = decodeURIComponent(m[1] ?? "");
    page = <ContainerPage key={name} who={who} loc={loc} name={name} />;
  } else if (loc.path === "/hosts") {
    page = <HostsPage />;
  } else {
    // one of issue 19's pages (src/pages.tsx), or the containers table
    page = extraPage(who, loc) ?? <ContainersPage who={who} loc={loc} />;
  }

  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <a {...linkTo("/")} class="brand">moorage</a>
        <nav aria-label="Main">
          <a {...linkTo("/")} aria-current={loc.path === "/" ? "page" : undefined}>Containers</a>
          {several && <a {...linkTo("/hosts")} aria-current={loc.path === "/hosts" ? "page" : undefined}>Hosts</a>}
          {who && navFor(who).map((n) => <a key={n.to} {...linkTo(n.to)} aria-current={loc.path === n.to ? "page" : undefined}>{n.text}</a>)}
          <a href="/docs">API docs</a>
          <button type="button" class="small finder-button" onClick={() => setFinder(true)} aria-keyshortcuts="Control+K Meta+K">
            Find… <kbd>Ctrl K</kbd>
          </button>
        </nav>
        {who && <span class="who" title={`signed in via ${who.via}`}>{who.name} · {who.role}</span>}
        <button type="button" class="small" onClick={() => setTheme(toggleTheme(theme))}
          aria-label={`Switch to ${theme === "dark" ? "light" : "dark"} theme`}>
          {theme === "dark" ? "☀" : "☾"}
        </button>
        {who?.auth_required && (
          <button type="button" class="small" onClick={() => void logout().then(() => setWho(null))}>Sign out</button>
        )}
      </header>
      {Banner && <Banner />}
      {page}
      {finder && <Finder onClose={() => setFinder(false)} />}
    </>
  );
}
