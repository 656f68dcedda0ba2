// Volumes: list, create, inspect with the containers that mount them, remove, prune.
import { useEffect, useState } from "preact/hooks";
import { ok, type Container, type Schemas } from "../api/client";
import { useApi } from "../api/hosted";
import { can } from "../api/session";
import { Confirm } from "../components/Confirm";
import { parseKv } from "../components/kv";
import { PruneButton } from "../components/PruneButton";
import { age, bytes, problemText } from "../format";
import type { PageProps } from "../pages";
import { HostPicker } from "../components/HostPicker";
import { linkTo } from "../router";
import { openStream } from "../streams";

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

export function VolumesPage({ who, loc }: PageProps) {
  const host = loc.query.get("host") ?? "";
  const api = useApi();
  const [vols, setVols] = useState<Volume[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [removing, setRemoving] = useState<Volume | null>(null);
  const [name, setName] = useState("");
  const [driver, setDriver] = useState("local");
  const [labels, setLabels] = useState("");
  const [formError, setFormError] = useState<string | null>(null);
  const operator = can(who, "operator");

  const load = async (): Promise<void> => {
    try {
      setVols(ok(await api.GET("/v1/volumes", {})));
      setError(null);
    } catch (e) {
      setError(problemText(e));
    }
  };
  useEffect(() => {
    void load();
    const s = openStream("/v1/events", { type: "volume", host: host || undefined }, { pauseHidden: true, on: { volume: () => void load() } });
    return () => s.close();
  }, [host]);

  const create = async (): Promise<void> => {
    setFormError(null);
    try {
      const v = ok(await api.POST("/v1/volumes", { body: { name: name.trim() || undefined, driver, labels: parseKv(labels) } }));
      setNotice(`Created volume ${v.name}`);
      setName("");
      void load();
    } catch (e) {
      setFormError(problemText(e));
    }
  };
  const remove = async (v: Volume): Promise<void> => {
    setRemoving(null);
    try {
      ok(await api.DELETE("/v1/volumes/{name}", { params: { path: { name: v.name } } }));
      setNotice(`Removed volume ${v.name}`);
      void load();
    } catch (e) {
      setNotice(`Remove ${v.name} failed: ${problemText(e)}`);
    }
  };

  return (
    <main id="main" class="page">
      <div class="toolbar">
        <h1>Volumes</h1>
        <HostPicker host={host} />
        {can(who, "admin") && (
          <PruneButton what="volumes"
            estimate={async () => {
              const df = ok(await api.GET("/v1/system/df", {}));
              return `Volumes no container uses are deleted with their data: about ${bytes(df.volumes?.reclaimable)} would be freed.`;
            }}
            prune={async (label) => {
              try {
                const r = ok(await api.POST("/v1/volumes/prune", { body: label ? { filters: { label: [label] } } : {} }));
                setNotice(`Pruned ${r.deleted.length} volume(s), freed ${bytes(r.space_reclaimed)}`);
                void load();
              } catch (e) {
                setNotice(`Prune failed: ${problemText(e)}`);
              }
            }} />
        )}
      </div>
      {notice && <p class="notice" role="status">{notice}</p>}
      {error && <p class="error" role="alert">{error}</p>}
      {operator && (
        <section class="panel" aria-labelledby="h-vcreate">
          <h2 id="h-vcreate">Create a volume</h2>
          <form class="stack" onSubmit={(e) => { e.preventDefault(); void create(); }}>
            <div class="row">
              <label>Name<input value={name} placeholder="(generated when empty)" onInput={(e) => setName((e.target as HTMLInputElement).value)} /></label>
              <label>Driver<input value={driver} onInput={(e) => setDriver((e.target as HTMLInputElement).value)} /></label>
              <label>Labels<input value={labels} placeholder="team=a, env=dev" onInput={(e) => setLabels((e.target as HTMLInputElement).value)} /></label>
              <button type="submit" class="primary">Create volume</button>
            </div>
            {formError && <p class="error" role="alert">{formError}</p>}
          </form>
        </section>
      )}
      {vols === null ? <p>Loading…</p> : (
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Volumes (scrolls sideways)">
          <table>
            <caption class="sr-only">Volumes, {vols.length}</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Driver</th><th scope="col">Labels</th><th scope="col">Created</th><th scope="col">Actions</th></tr></thead>
            {vols.map((v) => (
              <tbody key={v.name}>
                <tr data-volume={v.name}>
                  <td class="wrap"><code>{v.name}</code></td>
                  <td>{v.driver}</td>
                  <td class="wrap">{Object.entries(v.labels ?? {}).map(([k, val]) => `${k}=${val}`).join(", ")}</td>
                  <td class="num" title={v.created ?? ""}>{age(v.created)}</td>
                  <td class="actions">
                    <button type="button" class="small" aria-expanded={open === v.name} aria-label={`Inspect ${v.name}`} onClick={() => setOpen(open === v.name ? null : v.name)}>Inspect</button>
                    {operator && <button type="button" class="small danger" aria-label={`Remove ${v.name}`} onClick={() => setRemoving(v)}>Remove</button>}
                  </td>
                </tr>
                {open === v.name && <tr><td colSpan={5}><Inspect v={v} /></td></tr>}
              </tbody>
            ))}
          </table>
          {vols.length === 0 && <p>No volumes.</p>}
        </div>
      )}
      {removing && (
        <Confirm title={`Remove volume ${removing.name}?`} body="The volume and all its data are deleted. A volume in use cannot be removed." confirm="Remove" danger
          onConfirm={() => void remove(removing)} onCancel={() => setRemoving(null)} />
      )}
    </main>
  );
}
