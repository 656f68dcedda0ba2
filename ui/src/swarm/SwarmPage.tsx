// Swarm: the cluster of the host picked (a manager), its nodes with availability
// controls and labels, its services with live replica counts and their actions, and
// the secrets and configs. Controls follow the API's role table: viewers read,
// operators scale / roll back / redeploy, admins change nodes and create / remove.
import { useState } from "preact/hooks";
import { ok } from "../api/client";
import { useApi } from "../api/hosted";
import { can } from "../api/session";
import { Confirm } from "../components/Confirm";
import { HostPicker } from "../components/HostPicker";
import { parseKv } from "../components/kv";
import { age, problemText } from "../format";
import type { PageProps } from "../pages";
import { linkTo } from "../router";
import { useSwarmLive } from "./live";
import { DataObjects } from "./DataObjects";
import { ServiceActions } from "./ServiceActions";
import { converging, isManager, readCluster, short, type Node } from "./swarm";

const AVAILABILITY = ["active", "pause", "drain"] as const;

function NodeRow({ n, admin, onDone }: { n: Node; admin: boolean; onDone: (msg: string) => void }) {
  const api = useApi();
  const [labels, setLabels] = useState<string | null>(null);
  const labelText = Object.entries(n.labels ?? {}).map(([k, v]) => (v ? `${k}=${v}` : k)).join(", ");
  const patch = async (body: { availability?: (typeof AVAILABILITY)[number]; labels?: Record<string, string> }, what: string): Promise<void> => {
    try {
      ok(await api.PATCH("/v1/nodes/{id}", { params: { path: { id: n.id } }, body }));
      onDone(`${n.hostname}: ${what}`);
    } catch (e) {
      onDone(`${n.hostname}: ${problemText(e)}`);
    }
  };
  return (
    <tr data-node={n.hostname}>
      <th scope="row"><code>{n.hostname}</code>{n.leader && <span class="badge">leader</span>}</th>
      <td>{n.role}</td>
      <td><span class={`badge ${n.state === "ready" ? "state-running" : "state-dead"}`}>{n.state}</span></td>
      <td data-availability={n.availability}>
        {admin ? (
          <span class="toolbar" role="group" aria-label={`Availability of ${n.hostname}`}>
            {AVAILABILITY.map((a) => (
              <button key={a} type="button" class="small" aria-pressed={n.availability === a}
                onClick={() => n.availability !== a && void patch({ availability: a }, `availability ${a}`)}>{a}</button>
            ))}
          </span>
        ) : n.availability}
      </td>
      <td class="wrap">
        {labels === null ? (
          <>
            {labelText || <span class="muted">none</span>}
            {admin && <button type="button" class="small" aria-label={`Edit labels of ${n.hostname}`} onClick={() => setLabels(labelText)}>Edit</button>}
          </>
        ) : (
          <form class="toolbar" onSubmit={(e) => { e.preventDefault(); void patch({ labels: parseKv(labels) }, "labels saved").then(() => setLabels(null)); }}>
            <label>Labels of {n.hostname}<input value={labels} placeholder="zone=a, ssd" onInput={(e) => setLabels((e.target as HTMLInputElement).value)} /></label>
            <button type="submit" class="small primary">Save</button>
            <button type="button" class="small" onClick={() => setLabels(null)}>Cancel</button>
          </form>
        )}
      </td>
      <td>{n.addr ?? "—"}</td>
      <td>{n.engine_version ?? "—"}</td>
    </tr>
  );
}

function NewService({ onDone }: { onDone: (msg: string) => void }) {
  const api = useApi();
  const [name, setName] = useState("");
  const [image, setImage] = useState("");
  const [replicas, setReplicas] = useState("1");
  const [command, setCommand] = useState("");
  const [error, setError] = useState<string | null>(null);
  const create = async (): Promise<void> => {
    setError(null);
    try {
      const args = command.trim() ? ["sh", "-c", command.trim()] : undefined;
      const s = ok(await api.POST("/v1/services", {
        body: { name: name.trim() || undefined, image: image.trim(), replicas: Number(replicas), ...(args ? { args } : {}) },
      }));
      onDone(`Created service ${s.name}`);
      setName("");
    } catch (e) {
      setError(problemText(e));
    }
  };
  return (
    <section class="panel" aria-labelledby="h-screate">
      <h2 id="h-screate">Create a service</h2>
      <form class="stack" onSubmit={(e) => { e.preventDefault(); void create(); }}>
        <div class="row">
          <label>New service name<input value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} /></label>
          <label>New service image<input value={image} required onInput={(e) => setImage((e.target as HTMLInputElement).value)} /></label>
          <label>New service replicas<input type="number" min={0} class="narrow" value={replicas} onInput={(e) => setReplicas((e.target as HTMLInputElement).value)} /></label>
          <label>New service command<input value={command} placeholder="(the image's own)" onInput={(e) => setCommand((e.target as HTMLInputElement).value)} /></label>
          <button type="submit" class="primary">Create service</button>
        </div>
        {error && <p class="error" role="alert">{error}</p>}
      </form>
    </section>
  );
}

export function SwarmPage({ who, loc }: PageProps) {
  const host = loc.query.get("host") ?? "";
  const api = useApi();
  const [notice, setNotice] = useState<string | null>(null);
  const [removing, setRemoving] = useState<{ id: string; name: string } | null>(null);
  const admin = can(who, "admin");
  const operator = can(who, "operator");
  const live = useSwarmLive(host, () => readCluster(api), (c) => c.services.some(converging));
  const c = live.data;
  const done = (msg: string): void => {
    setNotice(msg);
    live.reload();
  };
  const q = host ? `?host=${encodeURIComponent(host)}` : "";

  const remove = async (id: string, name: string): Promise<void> => {
    setRemoving(null);
    try {
      ok(await api.DELETE("/v1/services/{id}", { params: { path: { id } } }));
      done(`Removed service ${name}`);
    } catch (e) {
      done(`Remove ${name} failed: ${problemText(e)}`);
    }
  };

  return (
    <main id="main" class="page">
      <div class="toolbar">
        <h1>Swarm</h1>
        <HostPicker host={host} />
        {c && isManager(c.swarm) && <span class="count">{c.swarm.nodes ?? c.nodes.length} nodes · {c.swarm.managers ?? "?"} managers · cluster <code>{short(c.swarm.cluster_id)}</code></span>}
      </div>
      {notice && <p class="notice" role="status">{notice}</p>}
      {live.error && <p class="error" role="alert">{live.error}</p>}
      {c === null ? (!live.error && <p>Loading…</p>) : !isManager(c.swarm) ? (
        <p class="notice" role="status" data-not-manager>
          This host is not a Swarm manager (its swarm state: <strong>{c.swarm.local_node_state}</strong>
          {c.swarm.local_node_state === "active" ? ", a worker" : ""}). Pick a manager above, or make it one
          with <code>docker swarm init</code> (or <code>POST /v1/swarm/init</code>).
        </p>
      ) : (
        <>
          <section aria-labelledby="h-nodes">
            <h2 id="h-nodes">Nodes</h2>
            <div class="table-wrap" tabIndex={0} role="region" aria-label="Nodes (scrolls sideways)">
              <table>
                <thead><tr><th scope="col">Hostname</th><th scope="col">Role</th><th scope="col">State</th><th scope="col">Availability</th><th scope="col">Labels</th><th scope="col">Address</th><th scope="col">Engine</th></tr></thead>
                <tbody>{c.nodes.map((n) => <NodeRow key={n.id} n={n} admin={admin} onDone={done} />)}</tbody>
              </table>
            </div>
          </section>
          <section aria-labelledby="h-services">
            <h2 id="h-services">Services</h2>
            {admin && <NewService onDone={done} />}
            <div class="table-wrap" tabIndex={0} role="region" aria-label="Services (scrolls sideways)">
              <table>
                <thead><tr><th scope="col">Name</th><th scope="col">Image</th><th scope="col">Mode</th><th scope="col">Replicas</th><th scope="col">Update</th><th scope="col">Updated</th><th scope="col">Actions</th></tr></thead>
                <tbody>
                  {c.services.map((s) => (
                    <tr key={s.id} data-service={s.name}>
                      <th scope="row"><a {...linkTo(`/swarm/services/${encodeURIComponent(s.id)}${q}`)}>{s.name}</a></th>
                      <td class="wrap"><code>{s.image ?? "—"}</code></td>
                      <td>{s.mode}</td>
                      <td class="num" data-replicas={`${s.replicas.running}/${s.replicas.desired}`}>
                        <span class={converging(s) ? "badge state-paused" : "badge state-running"}>{s.replicas.running} / {s.replicas.desired}</span>
                      </td>
                      <td>{s.update_status ? s.update_status.state : "—"}</td>
                      <td class="num" title={s.updated ?? ""}>{age(s.updated)}</td>
                      <td class="actions">
                        {operator && <ServiceActions s={s} onDone={done} />}
                        {admin && <button type="button" class="small danger" aria-label={`Remove ${s.name}`} onClick={() => setRemoving({ id: s.id, name: s.name })}>Remove</button>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {c.services.length === 0 && <p>No services.</p>}
            </div>
          </section>
          <DataObjects kind="secrets" items={c.secrets} admin={admin} onDone={done} />
          <DataObjects kind="configs" items={c.configs} admin={admin} onDone={done} />
        </>
      )}
      {removing && (
        <Confirm title={`Remove service ${removing.name}?`} body="The service and all its tasks are removed from the swarm." confirm="Remove" danger
          onConfirm={() => void remove(removing.id, removing.name)} onCancel={() => setRemoving(null)} />
      )}
    </main>
  );
}
