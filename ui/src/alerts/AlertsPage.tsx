// Alerts (admin: rules hold webhook secrets, deliveries hold log lines): the rules
// with their editor, "send test", and the deliveries with every try, re-read when the
// alert stream says something was raised.
import { useEffect, useState } from "preact/hooks";
import { api, ok } from "../api/client";
import { can } from "../api/session";
import { Confirm } from "../components/Confirm";
import { age, problemText } from "../format";
import type { PageProps } from "../pages";
import { openStream } from "../streams";
import { RuleEditor } from "./RuleEditor";
import { summary, type Delivery, type Rule } from "./rules";

function Deliveries({ items, rules }: { items: Delivery[]; rules: Map<string, Rule> }) {
  if (items.length === 0) return <p>No deliveries yet.</p>;
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label="Deliveries (scrolls sideways)">
      <table>
        <thead><tr><th scope="col">Raised</th><th scope="col">Rule</th><th scope="col">Alert</th><th scope="col">Status</th><th scope="col">Tries (status, code, time)</th></tr></thead>
        <tbody>
          {items.map((d) => (
            <tr key={d.id} data-delivery={d.id} data-status={d.status}>
              <td class="num" title={d.created}>{age(d.created)}</td>
              <td>{rules.get(d.rule_id)?.name ?? d.alert.rule}</td>
              <td class="wrap"><span class={`badge ${d.alert.state === "firing" ? "state-dead" : "state-running"}`}>{d.alert.state}</span> {[d.alert.host, d.alert.container.name].filter(Boolean).join(" · ")}: {d.alert.reason}</td>
              <td><span class={`badge ${d.status === "delivered" ? "state-running" : d.status === "expired" ? "state-dead" : ""}`}>{d.status}</span>{d.next_try && d.status === "pending" ? ` (next ${age(d.next_try)})` : ""}</td>
              <td class="wrap">
                <ol class="tries">
                  {d.attempts.map((a) => (
                    <li key={a.attempt} data-try={a.status}>
                      #{a.attempt} {a.status}{a.code !== null ? ` ${a.code}` : ""} · <time dateTime={a.time} title={a.time}>{new Date(a.time).toLocaleTimeString()}</time> · {Math.round(a.duration * 1000)} ms{a.error ? ` · ${a.error}` : ""}
                    </li>
                  ))}
                </ol>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function AlertsPage({ who }: PageProps) {
  const [rules, setRules] = useState<Rule[] | null>(null);
  const [deliveries, setDeliveries] = useState<Delivery[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [editing, setEditing] = useState<Rule | "new" | null>(null);
  const [removing, setRemoving] = useState<Rule | null>(null);
  const admin = can(who, "admin");

  const load = async (): Promise<void> => {
    try {
      const [r, d] = await Promise.all([api.GET("/v1/alerts/rules").then(ok), api.GET("/v1/alerts/deliveries", { params: { query: { limit: 100 } } }).then(ok)]);
      setRules(r);
      setDeliveries(d);
      setError(null);
    } catch (e) {
      setError(problemText(e));
    }
  };
  useEffect(() => {
    if (!admin) return;
    void load();
    // Each alert raised changes the deliveries: read them again then (and once more a
    // moment later, when the first try has had time to finish).
    let later: number | undefined;
    const s = openStream("/v1/alerts/stream", {}, {
      on: { alert: () => { void load(); window.clearTimeout(later); later = window.setTimeout(() => void load(), 1500); } },
    });
    return () => {
      s.close();
      window.clearTimeout(later);
    };
  }, [admin]);

  if (!admin) {
    return <main id="main" class="page"><h1>Alerts</h1><p class="notice">Alert rules and deliveries need the admin role (you are {who.role}): rules hold webhook secrets, deliveries hold log lines.</p></main>;
  }

  const act = async (what: string, call: () => Promise<unknown>): Promise<void> => {
    try {
      await call();
      setNotice(what);
    } catch (e) {
      setNotice(`${what} failed: ${problemText(e)}`);
    }
    void load();
  };
  const byId = new Map((rules ?? []).map((r) => [r.id, r]));

  return (
    <main id="main" class="page">
      <div class="toolbar">
        <h1>Alerts</h1>
        {editing === null && <button type="button" class="primary" onClick={() => setEditing("new")}>New rule</button>}
      </div>
      {notice && <p class="notice" role="status">{notice}</p>}
      {error && <p class="error" role="alert">{error}</p>}
      {editing !== null && (
        <RuleEditor key={editing === "new" ? "new" : editing.id} rule={editing === "new" ? null : editing}
          onCancel={() => setEditing(null)}
          onSaved={(r) => { setEditing(null); setNotice(`Saved rule ${r.name}`); void load(); }} />
      )}
      <section aria-labelledby="h-rules">
        <h2 id="h-rules">Rules</h2>
        {rules === null ? (!error && <p>Loading…</p>) : rules.length === 0 ? <p>No rules yet: add one to be told when a container turns unhealthy, dies, logs an error or a host goes down.</p> : (
          <div class="table-wrap" tabIndex={0} role="region" aria-label="Rules (scrolls sideways)">
            <table>
              <thead><tr><th scope="col">Name</th><th scope="col">When</th><th scope="col">Scope</th><th scope="col">Target</th><th scope="col">Throttle</th><th scope="col">Enabled</th><th scope="col">Actions</th></tr></thead>
              <tbody>
                {rules.map((r) => (
                  <tr key={r.id} data-rule={r.name}>
                    <th scope="row">{r.name}</th>
                    <td class="wrap">{summary(r)}</td>
                    <td class="wrap">hosts {r.scope.hosts.join(", ") || "*"}{r.scope.labels.length ? ` · labels ${r.scope.labels.join(", ")}` : ""}{r.scope.names.length ? ` · names ${r.scope.names.join(", ")}` : ""}</td>
                    <td class="wrap"><code>{r.target.url}</code> ({r.target.format}{r.target.has_secret ? ", signed" : ""})</td>
                    <td class="num">{r.throttle} s</td>
                    <td>{r.enabled ? "yes" : "no"}</td>
                    <td class="actions">
                      <button type="button" class="small" aria-label={`Edit ${r.name}`} onClick={() => setEditing(r)}>Edit</button>
                      <button type="button" class="small" aria-label={`Send test of ${r.name}`}
                        onClick={() => void act(`Test of ${r.name} sent`, async () => ok(await api.POST("/v1/alerts/rules/{id}/test", { params: { path: { id: r.id } } })))}>Send test</button>
                      <button type="button" class="small" aria-label={`${r.enabled ? "Disable" : "Enable"} ${r.name}`}
                        onClick={() => void act(`${r.name} ${r.enabled ? "disabled" : "enabled"}`, async () => ok(await api.PATCH("/v1/alerts/rules/{id}", { params: { path: { id: r.id } }, body: { enabled: !r.enabled } })))}>{r.enabled ? "Disable" : "Enable"}</button>
                      <button type="button" class="small danger" aria-label={`Remove ${r.name}`} onClick={() => setRemoving(r)}>Remove</button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section aria-labelledby="h-deliveries">
        <div class="toolbar"><h2 id="h-deliveries">Deliveries</h2><button type="button" class="small" onClick={() => void load()}>Refresh</button></div>
        <Deliveries items={deliveries} rules={byId} />
      </section>
      {removing && (
        <Confirm title={`Remove rule ${removing.name}?`} body="No more alerts are raised for it; its past deliveries stay listed until they age out." confirm="Remove" danger
          onCancel={() => setRemoving(null)}
          onConfirm={() => { const r = removing; setRemoving(null); void act(`Removed rule ${r.name}`, async () => ok(await api.DELETE("/v1/alerts/rules/{id}", { params: { path: { id: r.id } } }))); }} />
      )}
    </main>
  );
}
