// One service: what it runs, its replicas live, its actions, its tasks per node (node,
// slot, state, container) and a link to its merged logs in the log viewer.
import { useState } from "preact/hooks";
import { ok } from "../api/client";
import { useApi } from "../api/hosted";
import { can } from "../api/session";
import { HostPicker } from "../components/HostPicker";
import { age, problemText } from "../format";
import type { PageProps } from "../pages";
import { linkTo } from "../router";
import { useSwarmLive } from "./live";
import { ServiceActions } from "./ServiceActions";
import { converging, short, type Api, type Node, type Service, type Task } from "./swarm";

interface Detail {
  service: Service;
  tasks: Task[];
  nodes: Map<string, Node>;
}

async function readService(api: Api, id: string): Promise<Detail> {
  const [service, tasks, nodes] = await Promise.all([
    api.GET("/v1/services/{id}", { params: { path: { id } } }).then(ok),
    api.GET("/v1/tasks", { params: { query: { service: id } } }).then(ok),
    api.GET("/v1/nodes", {}).then(ok),
  ]);
  // Newest first within a slot, slots in order: the running task on top of its history.
  tasks.sort((a, b) => (a.slot ?? 0) - (b.slot ?? 0) || (b.created ?? "").localeCompare(a.created ?? ""));
  return { service, tasks, nodes: new Map(nodes.map((n) => [n.id, n])) };
}

export function ServicePage({ who, loc, name }: PageProps) {
  const id = name ?? "";
  const host = loc.query.get("host") ?? "";
  const api = useApi();
  const [notice, setNotice] = useState<string | null>(null);
  const [history, setHistory] = useState(false);
  const live = useSwarmLive(host, () => readService(api, id), (d) => converging(d.service), [id]);
  const d = live.data;
  const q = host ? `&host=${encodeURIComponent(host)}` : "";
  const back = host ? `/swarm?host=${encodeURIComponent(host)}` : "/swarm";

  const shown = d ? d.tasks.filter((t) => history || t.desired_state === "running" || t.state === "running") : [];
  const perNode = new Map<string, Task[]>();
  for (const t of shown) {
    const k = t.node_id ?? "";
    perNode.set(k, [...(perNode.get(k) ?? []), t]);
  }
  const nodeName = (nid: string): string => d?.nodes.get(nid)?.hostname ?? (nid ? short(nid) : "(not placed)");

  return (
    <main id="main" class="page">
      <div class="toolbar">
        <a {...linkTo(back)}>← Swarm</a>
        <h1>{d ? d.service.name : "Service"}</h1>
        <HostPicker host={host} />
      </div>
      {notice && <p class="notice" role="status">{notice}</p>}
      {live.error && <p class="error" role="alert">{problemText(live.error)}</p>}
      {!d ? (!live.error && <p>Loading…</p>) : (
        <>
          <dl class="facts">
            <dt>Image</dt><dd><code>{d.service.image ?? "—"}</code></dd>
            <dt>Mode</dt><dd>{d.service.mode}</dd>
            <dt>Replicas</dt><dd data-replicas={`${d.service.replicas.running}/${d.service.replicas.desired}`}>{d.service.replicas.running} running of {d.service.replicas.desired}</dd>
            <dt>Update</dt><dd>{d.service.update_status ? `${d.service.update_status.state}${d.service.update_status.message ? `: ${d.service.update_status.message}` : ""}` : "—"}</dd>
            <dt>Updated</dt><dd title={d.service.updated ?? ""}>{age(d.service.updated)}</dd>
          </dl>
          <div class="toolbar">
            {can(who, "operator") && <ServiceActions s={d.service} onDone={(m) => { setNotice(m); live.reload(); }} />}
            <a class="button-link" {...linkTo(`/logs?service=${encodeURIComponent(d.service.id)}&name=${encodeURIComponent(d.service.name)}${q}`)}>Logs of every task</a>
          </div>
          <section aria-labelledby="h-tasks">
            <div class="toolbar">
              <h2 id="h-tasks">Tasks per node</h2>
              <label><input type="checkbox" checked={history} onChange={() => setHistory(!history)} /> Show ended tasks</label>
            </div>
            {shown.length === 0 && <p>No tasks.</p>}
            {[...perNode.entries()].map(([nid, tasks]) => (
              <div key={nid} class="table-wrap" tabIndex={0} role="region" aria-label={`Tasks on ${nodeName(nid)}`} data-tasks-node={nodeName(nid)}>
                <table>
                  <caption class="left">{nodeName(nid)} · {tasks.length} task{tasks.length === 1 ? "" : "s"}</caption>
                  <thead><tr><th scope="col">Slot</th><th scope="col">State</th><th scope="col">Desired</th><th scope="col">Container</th><th scope="col">Task</th><th scope="col">Since</th><th scope="col">Error</th></tr></thead>
                  <tbody>
                    {tasks.map((t) => (
                      <tr key={t.id} data-task={t.id} data-state={t.state}>
                        <td class="num">{t.slot ?? "—"}</td>
                        <td><span class={`badge ${t.state === "running" ? "state-running" : ""}`}>{t.state}</span></td>
                        <td>{t.desired_state}</td>
                        <td><code>{short(t.container_id)}</code></td>
                        <td><code>{short(t.id)}</code></td>
                        <td class="num" title={t.updated ?? ""}>{age(t.updated)}</td>
                        <td class="wrap">{t.error ?? ""}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ))}
          </section>
        </>
      )}
    </main>
  );
}
