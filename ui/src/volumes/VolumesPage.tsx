// Volumes: list, create, inspect with the containers that mount them, remove, prune.
import { useEffect, useState } from "preact/hooks";
import { ok, type Container, type Schemas } from "../api/client";
import { useApi } from "../api/hosted";
import { parseKv } from "../components/kv";
import { CreatePanel, ResourcePage } from "../components/ResourcePage";
import { age, bytes } from "../format";
import type { PageProps } from "../pages";
import { linkTo } from "../router";

type Volume = Schemas["Volume"];

/** The containers (any state) that mount volume `name`: read from each container. */
async function usersOf(api: ReturnType<typeof useApi>, name: string): Promise<Container[]> {
  const list = ok(await api.GET("/v1/containers", { params: { query: { all: true } } }));
  const full = await Promise.all(list.map((c) => api.GET("/v1/containers/{id}", { params: { path: { id: c.id } } })));
  return full.flatMap((r) => (r.data && (r.data.mounts ?? []).some((m) => m.type === "volume" && m.name === name) ? [r.data] : []));
}

function Inspect({ v }: { v: Volume }) {
  const api = useApi();
  const [users, setUsers] = useState<Container[] | null>(null);
  useEffect(() => {
    void usersOf(api, v.name).then(setUsers, () => setUsers([]));
  }, [v.name]);
  return (
    <div class="inspect-row">
      <h3>Used by</h3>
      {users === null ? <p>…</p> : users.length === 0 ? <p>No container mounts it.</p> : (
        <ul>{users.map((c) => <li key={c.id}><a {...linkTo(`/containers/${encodeURIComponent(c.name)}`)}>{c.name}</a> ({c.status}) at <code>{c.mounts?.find((m) => m.name === v.name)?.destination}</code></li>)}</ul>
      )}
      <pre class="inspect">{JSON.stringify(v.attrs, null, 2)}</pre>
    </div>
  );
}

function CreateVolume({ done }: { done: (notice: string) => void }) {
  const api = useApi();
  const [name, setName] = useState("");
  const [driver, setDriver] = useState("local");
  const [labels, setLabels] = useState("");
  const submit = async (): Promise<string> => {
    const v = ok(await api.POST("/v1/volumes", { body: { name: name.trim() || undefined, driver, labels: parseKv(labels) } }));
    setName("");
    return `Created volume ${v.name}`;
  };
  return (
    <CreatePanel id="h-vcreate" title="Create a volume" submit={submit} done={done}>
      <div class="row">
        <label>Name<input value={name} placeholder="(generated when empty)" onInput={(e) => setName((e.target as HTMLInputElement).value)} /></label>
        <label>Driver<input value={driver} onInput={(e) => setDriver((e.target as HTMLInputElement).value)} /></label>
        <label>Labels<input value={labels} placeholder="team=a, env=dev" onInput={(e) => setLabels((e.target as HTMLInputElement).value)} /></label>
        <button type="submit" class="primary">Create volume</button>
      </div>
    </CreatePanel>
  );
}

export function VolumesPage({ who, loc }: PageProps) {
  const api = useApi();
  return (
    <ResourcePage<Volume> title="Volumes" kind="volume" who={who} host={loc.query.get("host") ?? ""}
      list={async () => ok(await api.GET("/v1/volumes", {}))}
      keyOf={(v) => v.name} nameOf={(v) => v.name}
      columns={["Name", "Driver", "Labels", "Created"]}
      cells={(v) => (
        <>
          <td class="wrap"><code>{v.name}</code></td>
          <td>{v.driver}</td>
          <td class="wrap">{Object.entries(v.labels ?? {}).map(([k, val]) => `${k}=${val}`).join(", ")}</td>
          <td class="num" title={v.created ?? ""}>{age(v.created)}</td>
        </>
      )}
      create={(done) => <CreateVolume done={done} />}
      inspect={(v) => <Inspect v={v} />}
      remove={async (v) => ok(await api.DELETE("/v1/volumes/{name}", { params: { path: { name: v.name } } }))}
      removeBody="The volume and all its data are deleted. A volume in use cannot be removed."
      pruneEstimate={async () => {
        const df = ok(await api.GET("/v1/system/df", {}));
        return `Volumes no container uses are deleted with their data: about ${bytes(df.volumes?.reclaimable)} would be freed.`;
      }}
      prune={async (label) => {
        const r = ok(await api.POST("/v1/volumes/prune", { body: label ? { filters: { label: [label] } } : {} }));
        return `Pruned ${r.deleted.length} volume(s), freed ${bytes(r.space_reclaimed)}`;
      }} />
  );
}
