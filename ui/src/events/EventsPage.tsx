// The engine's events, live: filtered by type, action, container, label and how far
// back to start; the filters live in the URL. A `gap` (events lost while the engine
// was away) is shown where it happened.
import { useEffect, useState } from "preact/hooks";
import type { Schemas } from "../api/client";
import type { PageProps } from "../pages";
import { HostPicker } from "../components/HostPicker";
import { linkTo, setQuery } from "../router";
import { openStream } from "../streams";

type EngineEvent = Schemas["EngineEvent"];
type Row = { key: string; ev?: EngineEvent; gap?: string };

const TYPES = ["container", "image", "volume", "network", "daemon", "plugin", "service", "node", "secret", "config"];
const SINCE: Record<string, number> = { now: 0, "10m": 600, "1h": 3600, "24h": 86400 };
const KEEP = 1000;

export function EventsPage({ loc }: PageProps) {
  const type = loc.query.get("type") ?? "";
  const action = loc.query.get("action") ?? "";
  const container = loc.query.get("container") ?? "";
  const label = loc.query.get("label") ?? "";
  const since = loc.query.get("since") ?? "10m";
  // "*": every host (offered only when moorage serves several).
  const host = loc.query.get("host") ?? "";
  const [rows, setRows] = useState<Row[]>([]);
  const [connected, setConnected] = useState(false);
  const [paused, setPaused] = useState(false);

  useEffect(() => {
    setRows([]);
    const back = SINCE[since] ?? 0;
    const on: Record<string, (d: unknown, id: string) => void> = {};
    for (const t of TYPES) {
      on[t] = (d, id) => setRows((old) => [{ key: id || String(Math.random()), ev: d as EngineEvent }, ...old].slice(0, KEEP));
    }
    on.gap = (d, id) => setRows((old) => [{ key: `gap-${id}`, gap: (d as { detail?: string }).detail ?? "events were lost" }, ...old]);
    const s = openStream("/v1/events", {
      type: type || undefined,
      action: action || undefined,
      container: container || undefined,
      label: label || undefined,
      since: back ? String(Math.floor(Date.now() / 1000) - back) : undefined,
      host: host || undefined,
    }, { on, onState: setConnected });
    return () => s.close();
  }, [type, action, container, label, since, host]);

  // Paused: the list stays as it is while events keep arriving underneath.
  const [frozen, setFrozen] = useState<Row[]>([]);
  const shown = paused ? frozen : rows;
  const input = (k: string, v: string, text: string, ph: string) => (
    <label>{text} <input class="narrow" value={v} placeholder={ph} onChange={(e) => setQuery({ [k]: (e.target as HTMLInputElement).value })} /></label>
  );
  return (
    <main id="main" class="page">
      <div class="toolbar">
        <h1>Events</h1>
        <HostPicker host={host} all />
        <span class={`live ${connected ? "on" : "off"}`} role="status">{connected ? "live" : "connecting…"}</span>
        <label>Type <select value={type} onChange={(e) => setQuery({ type: (e.target as HTMLSelectElement).value })}>
          <option value="">all</option>{TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
        </select></label>
        {input("action", action, "Action", "start, die…")}
        {input("container", container, "Container", "name or id")}
        {input("label", label, "Label", "key=value")}
        <label>From <select value={since} onChange={(e) => setQuery({ since: (e.target as HTMLSelectElement).value })}>
          <option value="now">now on</option><option value="10m">10 minutes ago</option><option value="1h">an hour ago</option><option value="24h">a day ago</option>
        </select></label>
        <button type="button" aria-pressed={paused} onClick={() => { setFrozen(rows); setPaused(!paused); }}>{paused ? `Resume (${rows.length - frozen.length} new)` : "Pause"}</button>
      </div>
      <ol class="feed" aria-label="Events, newest first">
        {shown.map((r) => r.gap ? (
          <li key={r.key} class="gap">⚠ {r.gap}</li>
        ) : (
          <li key={r.key} data-action={r.ev?.action}>
            <span class="t">{r.ev?.time?.replace("T", " ").slice(0, 19)}</span>
            {(r.ev as { host?: string } | undefined)?.host && <span class="host-tag">{(r.ev as { host?: string }).host}</span>}
            <span>{r.ev?.type}</span>
            <strong>{r.ev?.action}</strong>
            {r.ev?.type === "container" && r.ev.name
              ? <a {...linkTo(`/containers/${encodeURIComponent(r.ev.name)}`)}>{r.ev.name}</a>
              : <span>{r.ev?.name ?? r.ev?.id?.slice(0, 12)}</span>}
            {r.ev?.attributes?.image && <span class="muted">{r.ev.attributes.image}</span>}
          </li>
        ))}
        {shown.length === 0 && <li class="muted">No events yet{type || action || container || label ? " matching these filters" : ""}.</li>}
      </ol>
    </main>
  );
}
