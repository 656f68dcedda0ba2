// Networks: list, create (driver, IPAM subnet / gateway / range, internal,
// attachable), inspect with their containers, connect and disconnect a container,
// remove, prune.
import { useEffect, useState } from "preact/hooks";
import { ok, type ContainerSummary, type Schemas, type WhoAmI } from "../api/client";
import { useApi } from "../api/hosted";
import { can } from "../api/session";
import { parseKv } from "../components/kv";
import { CreatePanel, ResourcePage } from "../components/ResourcePage";
import { age, problemText } from "../format";
import type { PageProps } from "../pages";
import { linkTo } from "../router";

type Network = Schemas["Network"];
const BUILTIN = new Set(["bridge", "host", "none"]);

function Inspect({ id, who, containers, onChange }: { id: string; who: WhoAmI; containers: ContainerSummary[]; onChange: (msg: string) => void }) {
  const api = useApi();
  const [n, setN] = useState<Network | null>(null);
  const [pick, setPick] = useState("");
  const [error, setError] = useState<string | null>(null);
  const load = async (): Promise<void> => setN(ok(await api.GET("/v1/networks/{id}", { params: { path: { id } } })));
  useEffect(() => {
    void load().catch((e: unknown) => setError(problemText(e)));
  }, [id]);
  const act = async (kind: "connect" | "disconnect", container: string): Promise<void> => {
    setError(null);
    try {
      if (kind === "connect") ok(await api.POST("/v1/networks/{id}/connect", { params: { path: { id } }, body: { container } }));
      else ok(await api.POST("/v1/networks/{id}/disconnect", { params: { path: { id } }, body: { container } }));
      onChange(`${kind === "connect" ? "Connected" : "Disconnected"} ${container} ${kind === "connect" ? "to" : "from"} ${n?.name ?? id}`);
      setPick("");
      await load();
    } catch (e) {
      setError(problemText(e));
    }
  };
  if (!n) return <p>{error ?? "…"}</p>;
  const operator = can(who, "operator");
  const attached = new Set((n.containers ?? []).map((c) => c.name));
  return (
    <div class="inspect-row">
      <h3>Containers</h3>
      {(n.containers ?? []).length === 0 ? <p>No container is connected.</p> : (
        <table>
          <thead><tr><th scope="col">Container</th><th scope="col">IPv4</th><th scope="col">MAC</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {(n.containers ?? []).map((c) => (
              <tr key={c.id}>
                <td><a {...linkTo(`/containers/${encodeURIComponent(c.name)}`)}>{c.name}</a></td>
                <td><code>{c.ipv4_address ?? "–"}</code></td>
                <td><code>{c.mac_address ?? "–"}</code></td>
                <td>{operator && <button type="button" class="small" aria-label={`Disconnect ${c.name}`} onClick={() => void act("disconnect", c.name)}>Disconnect</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {operator && (
        <form class="toolbar" onSubmit={(e) => { e.preventDefault(); if (pick) void act("connect", pick); }}>
          <label for={`connect-${id}`}>Connect a container</label>
          <select id={`connect-${id}`} value={pick} onChange={(e) => setPick((e.target as HTMLSelectElement).value)}>
            <option value="">choose…</option>
            {containers.filter((c) => !attached.has(c.name)).map((c) => <option key={c.id} value={c.name}>{c.name}</option>)}
          </select>
          <button type="submit" disabled={!pick}>Connect</button>
        </form>
      )}
      {error && <p class="error" role="alert">{error}</p>}
      <details><summary>Inspect (the engine's document)</summary><pre class="inspect">{JSON.stringify(n.attrs, null, 2)}</pre></details>
    </div>
  );
}

function CreateNetwork({ done }: { done: (notice: string) => void }) {
  const api = useApi();
  const [form, setForm] = useState({ name: "", driver: "bridge", subnet: "", gateway: "", ip_range: "", internal: false, attachable: false, labels: "" });
  const set = (k: keyof typeof form) => (e: Event) => {
    const t = e.target as HTMLInputElement;
    setForm({ ...form, [k]: t.type === "checkbox" ? t.checked : t.value });
  };
  const submit = async (): Promise<string> => {
    const pool = form.subnet.trim()
      ? { subnet: form.subnet.trim(), gateway: form.gateway.trim() || undefined, ip_range: form.ip_range.trim() || undefined }
      : null;
    const n = ok(await api.POST("/v1/networks", {
      body: {
        name: form.name.trim(), driver: form.driver, internal: form.internal, attachable: form.attachable,
        labels: parseKv(form.labels), ipam: pool ? { pools: [pool] } : undefined,
      },
    }));
    setForm({ ...form, name: "", subnet: "", gateway: "", ip_range: "" });
    return `Created network ${n.name}`;
  };
  return (
    <CreatePanel id="h-ncreate" title="Create a network" submit={submit} done={done}>
      <div class="row">
        <label>Name<input value={form.name} required onInput={set("name")} /></label>
        <label>Driver<input value={form.driver} onInput={set("driver")} /></label>
        <label>Labels<input value={form.labels} placeholder="team=a" onInput={set("labels")} /></label>
      </div>
      <fieldset class="row">
        <legend>IPAM (optional)</legend>
        <label>Subnet<input value={form.subnet} placeholder="10.77.0.0/24" onInput={set("subnet")} /></label>
        <label>Gateway<input value={form.gateway} placeholder="10.77.0.1" onInput={set("gateway")} /></label>
        <label>IP range<input value={form.ip_range} placeholder="10.77.0.128/25" onInput={set("ip_range")} /></label>
      </fieldset>
      <div class="row">
        <label class="check"><span><input type="checkbox" checked={form.internal} onChange={set("internal")} /> Internal (no outside access)</span></label>
        <label class="check"><span><input type="checkbox" checked={form.attachable} onChange={set("attachable")} /> Attachable</span></label>
        <button type="submit" class="primary">Create network</button>
      </div>
    </CreatePanel>
  );
}

export function NetworksPage({ who, loc }: PageProps) {
  const api = useApi();
  // Read with the list: the inspect rows offer these for connecting.
  const [containers, setContainers] = useState<ContainerSummary[]>([]);
  return (
    <ResourcePage<Network> title="Networks" kind="network" who={who} host={loc.query.get("host") ?? ""}
      list={async () => {
        const [n, c] = await Promise.all([api.GET("/v1/networks", {}), api.GET("/v1/containers", { params: { query: { all: true } } })]);
        const nets = ok(n);
        setContainers(ok(c));
        return nets;
      }}
      keyOf={(n) => n.id} nameOf={(n) => n.name}
      columns={["Name", "Driver", "Scope", "Subnets", "Flags", "Created"]}
      cells={(n) => (
        <>
          <td><code>{n.name}</code></td>
          <td>{n.driver}</td>
          <td>{n.scope}</td>
          <td>{(n.ipam?.pools ?? []).map((p) => p.subnet).filter(Boolean).join(", ") || "–"}</td>
          <td>{[n.internal && "internal", n.attachable && "attachable", n.enable_ipv6 && "IPv6"].filter(Boolean).join(", ")}</td>
          <td class="num" title={n.created ?? ""}>{age(n.created)}</td>
        </>
      )}
      create={(done) => <CreateNetwork done={done} />}
      inspect={(n, changed) => <Inspect id={n.id} who={who} containers={containers} onChange={changed} />}
      removable={(n) => !BUILTIN.has(n.name)}
      remove={async (n) => ok(await api.DELETE("/v1/networks/{id}", { params: { path: { id: n.id } } }))}
      removeBody="Containers still connected must be disconnected first."
      pruneEstimate={async () => "Networks no container uses are deleted (bridge, host and none stay)."}
      prune={async (label) => {
        const r = ok(await api.POST("/v1/networks/prune", { body: label ? { filters: { label: [label] } } : {} }));
        return `Pruned ${r.deleted.length} network(s)`;
      }} />
  );
}
