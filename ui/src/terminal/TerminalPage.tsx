// A terminal in a container: a shell (an interactive exec, the shell and user chosen
// here) or the container's main process (attach), in xterm.js sized to its pane and
// resized with the window; a dropped socket reconnects and replays the last output.
import { useEffect, useRef, useState } from "preact/hooks";
import { can } from "../api/session";
import { problemText } from "../format";
import type { PageProps } from "../pages";
import { linkTo } from "../router";
import { Connection, type State } from "./connection";
import { createScreen, type Screen } from "./xterm";

const SHELLS = ["", "sh", "bash", "ash", "zsh"];

const STATE_TEXT: Record<State, string> = {
  connecting: "connecting…",
  open: "connected",
  reconnecting: "reconnecting…",
  exited: "ended",
  closed: "closed",
  failed: "failed",
};

export function TerminalPage({ who, loc, name = "" }: PageProps) {
  const pane = useRef<HTMLDivElement>(null);
  const screen = useRef<Screen | null>(null);
  const conn = useRef<Connection | null>(null);
  const [mode, setMode] = useState<"exec" | "attach">(loc.query.get("attach") ? "attach" : "exec");
  const [shell, setShell] = useState(loc.query.get("shell") ?? "");
  const [custom, setCustom] = useState("");
  const [user, setUser] = useState(loc.query.get("user") ?? "");
  const [state, setState] = useState<State | null>(null);
  const [detail, setDetail] = useState<string | null>(null);
  const [running, setRunning] = useState<string[]>([]);
  // How many sockets this terminal has had (a reconnect is the next one).
  const [sockets, setSockets] = useState(0);
  const admin = can(who, "admin");
  const host = loc.query.get("host") ?? undefined;

  const disconnect = (): void => {
    conn.current?.close();
    conn.current = null;
  };

  const connect = async (): Promise<void> => {
    disconnect();
    setDetail(null);
    const el = pane.current;
    if (!el) return;
    if (!screen.current) {
      screen.current = createScreen(el, document.documentElement.dataset.theme === "dark");
      screen.current.term.onData((d) => conn.current?.send(d));
    }
    const s = screen.current;
    s.term.reset();
    const size = s.fit();
    const cmd = shell === "custom" ? custom.trim().split(/\s+/).filter(Boolean) : shell ? [shell] : undefined;
    const c = new Connection(
      mode === "exec"
        ? { kind: "exec", container: name, host, cmd: cmd?.length ? cmd : undefined, user }
        : { kind: "attach", container: name, host },
      size,
      {
        output: (b) => s.term.write(b),
        reset: () => s.term.reset(),
        state: (st, d) => {
          setState(st);
          if (d) setDetail(d);
          if (st === "open") {
            setSockets((n) => n + 1);
            s.term.focus();
          }
        },
      },
    );
    conn.current = c;
    try {
      await c.start();
      setRunning(c.cmd);
    } catch (e) {
      setState("failed");
      setDetail(problemText(e));
    }
  };

  // Sized to its pane, and again whenever the pane changes (window, phone rotation).
  useEffect(() => {
    const el = pane.current;
    if (!el) return;
    const ro = new ResizeObserver(() => {
      const s = screen.current;
      if (!s) return;
      const { rows, cols } = s.fit();
      conn.current?.resize(rows, cols);
    });
    ro.observe(el);
    if (admin) void connect();
    return () => {
      ro.disconnect();
      disconnect();
      screen.current?.dispose();
      screen.current = null;
    };
  }, [name]);

  const live = state === "open" || state === "connecting" || state === "reconnecting";
  return (
    <main id="main" class="page terminal-page">
      <div class="toolbar">
        <a {...linkTo(`/containers/${encodeURIComponent(name)}`)}>← {name}</a>
        <h1>Terminal</h1>
        {state && <span class={`live ${state === "open" ? "on" : "off"}`} role="status">{STATE_TEXT[state]}</span>}
        {running.length > 0 && mode === "exec" && <code class="muted">{running.join(" ")}</code>}
      </div>
      {!admin ? (
        <p class="notice">A terminal needs the admin role (you are {who.role}).</p>
      ) : (
        <form class="toolbar" onSubmit={(e) => { e.preventDefault(); void connect(); }}>
          <fieldset class="inline">
            <legend class="sr-only">What to open</legend>
            <label><input type="radio" name="mode" checked={mode === "exec"} onChange={() => setMode("exec")} /> A shell</label>
            <label><input type="radio" name="mode" checked={mode === "attach"} onChange={() => setMode("attach")} /> The main process</label>
          </fieldset>
          {mode === "exec" && (
            <>
              <label for="t-shell">Shell</label>
              <select id="t-shell" value={shell} onChange={(e) => setShell((e.target as HTMLSelectElement).value)}>
                {SHELLS.map((s) => <option key={s} value={s}>{s || "default (bash, else sh)"}</option>)}
                <option value="custom">other command…</option>
              </select>
              {shell === "custom" && (
                <>
                  <label for="t-cmd" class="sr-only">Command</label>
                  <input id="t-cmd" value={custom} placeholder="e.g. python3 -i" onInput={(e) => setCustom((e.target as HTMLInputElement).value)} />
                </>
              )}
              <label for="t-user">User</label>
              <input id="t-user" class="narrow" value={user} placeholder="default" onInput={(e) => setUser((e.target as HTMLInputElement).value)} />
            </>
          )}
          <button type="submit" class="primary">{live ? "Restart" : "Connect"}</button>
          {live && <button type="button" onClick={() => conn.current?.drop()} title="Drop the connection and reattach (the output is replayed)">Reconnect</button>}
          {live && <button type="button" onClick={() => { disconnect(); setState("closed"); }}>{mode === "attach" ? "Detach" : "End"}</button>}
        </form>
      )}
      {detail && <p class={state === "failed" ? "error" : "notice"} role="status">{detail}</p>}
      <div class="terminal-pane" ref={pane} data-sockets={sockets} aria-label={`Terminal in ${name}`} role="region" />
    </main>
  );
}
