// The audit log (admins): who did what to which target, when, and how it ended;
// filtered by actor, action, target, outcome and time, newest first, paged.
import { useEffect, useState } from "preact/hooks";
import { api, ok, type Schemas } from "../api/client";
import { can } from "../api/session";
import { problemText } from "../format";
import type { PageProps } from "../pages";
import { setQuery } from "../router";

type Entry = Schemas["AuditEntry"];
const PAGE = 100;

export function AuditPage({ who, loc }: PageProps) {
  const q = (k: string): string => loc.query.get(k) ?? "";
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<number | null>(null);
  const filters = { actor: q("actor"), action: q("action"), target: q("target"), outcome: q("outcome"), since: q("since") };
  const key = JSON.stringify(filters);

  const load = async (before?: number): Promise<void> => {
    try {
      const query = {
        actor: filters.actor || undefined, action: filters.action || undefined, target: filters.target || undefined,
        outcome: (filters.outcome || undefined) as Entry["outcome"] | undefined,
        since: filters.since ? new Date(filters.since).toISOString() : undefined,
        before, limit: PAGE,
      };
      const got = ok(await api.GET("/v1/audit", { params: { query: query as never } }));
      setEntries((old) => (before && old ? [...old, ...got] : got));
      setMore(got.length === PAGE);
      setError(null);
    } catch (e) {
      setError(problemText(e));
    }
  };
  useEffect(() => {
    if (can(who, "admin")) void load();
  }, [key]);

  if (!can(who, "admin")) return <main id="main" class="page"><h1>Audit log</h1><p class="notice">The audit log is for admins (you are {who.role}).</p></main>;
  const input = (k: keyof typeof filters, text: string, ph: string, type = "text") => (
    <label>{text} <input class="narrow" type={type} value={filters[k]} placeholder={ph} onChange={(e) => setQuery({ [k]: (e.target as HTMLInputElement).value })} /></label>
  );
  return (
    <main id="main" class="page">
      <div class="toolbar">
        <h1>Audit log</h1>
        {input("actor", "Who", "token name")}
        {input("action", "Action", "containers_create")}
        {input("target", "Target", "name or id")}
        <label>Outcome <select value={filters.outcome} onChange={(e) => setQuery({ outcome: (e.target as HTMLSelectElement).value })}>
          <option value="">any</option><option value="ok">ok</option><option value="refused">refused</option><option value="failed">failed</option>
        </select></label>
        {input("since", "Since", "", "datetime-local")}
        <button type="button" onClick={() => void load()}>Refresh</button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {entries === null ? <p>Loading…</p> : (
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Audit entries (scrolls sideways)">
          <table>
            <caption class="sr-only">Audit entries, newest first</caption>
            <thead><tr><th scope="col">Time</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Outcome</th><th scope="col">Status</th><th scope="col">From</th><th scope="col"><span class="sr-only">Details</span></th></tr></thead>
            {entries.map((e) => (
              <tbody key={e.id}>
                <tr data-action={e.action} data-target={e.target}>
                  <td title={e.time}>{e.time.replace("T", " ").slice(0, 19)}</td>
                  <td>{e.actor} <span class="muted">({e.role})</span></td>
                  <td><code>{e.action}</code></td>
                  <td class="wrap"><code>{e.target}</code></td>
                  <td><span class={`badge ${e.outcome === "ok" ? "state-running" : e.outcome === "refused" ? "state-dead" : e.outcome ? "state-paused" : ""}`}>{e.outcome ?? "–"}</span>{e.rule && <span class="muted"> {e.rule}</span>}</td>
                  <td class="num">{e.status ?? "–"}</td>
                  <td>{e.source ?? "–"}</td>
                  <td><button type="button" class="small" aria-expanded={open === e.id} aria-label={`Details of entry ${e.id}`} onClick={() => setOpen(open === e.id ? null : e.id)}>Details</button></td>
                </tr>
                {open === e.id && <tr><td colSpan={8}><pre class="inspect">{JSON.stringify({ method: e.method, path: e.path, reason: e.reason, summary: e.summary }, null, 2)}</pre></td></tr>}
              </tbody>
            ))}
          </table>
          {entries.length === 0 && <p>No entries match.</p>}
          {more && <button type="button" onClick={() => void load(entries[entries.length - 1]?.id)}>Load older</button>}
        </div>
      )}
    </main>
  );
}
