// Images of the engine: size, tags, dangling, in use; pull and push with live progress,
// build from a typed Dockerfile or an uploaded tar with the log live, tag, remove,
// prune (saying first what it would free); "update available" from image-update, and
// recreate a container on its newer image.
import { useEffect, useMemo, useState } from "preact/hooks";
import { ok, type ContainerSummary, type Schemas, type WhoAmI } from "../api/client";
import { useApi } from "../api/hosted";
import { can } from "../api/session";
import { Confirm } from "../components/Confirm";
import { Prompt } from "../components/Prompt";
import { age, bytes, problemText } from "../format";
import type { PageProps } from "../pages";
import { HostPicker } from "../components/HostPicker";
import { openStream } from "../streams";
import { readEvents } from "./postEvents";
import { addProgress, Progress, type Layers } from "./Progress";

type Image = Schemas["Image"];
type Update = Schemas["ImageUpdate"] & { container: ContainerSummary };

interface Creds {
  username: string;
  password: string;
}

function authOf(c: Creds): { username: string; password: string } | undefined {
  return c.username ? { username: c.username, password: c.password } : undefined;
}

/** docker's X-Registry-Auth: base64url JSON (what image-update reads credentials from). */
function registryHeader(c: Creds): Record<string, string> {
  if (!c.username) return {};
  const json = JSON.stringify({ username: c.username, password: c.password });
  const b64 = btoa(String.fromCharCode(...new TextEncoder().encode(json)));
  return { "X-Registry-Auth": b64.replace(/\+/g, "-").replace(/\//g, "_") };
}

function shortRef(img: Image): string {
  return img.tags[0] ?? img.short_id;
}

function PullForm({ creds, onDone }: { creds: Creds; onDone: (msg: string) => void }) {
  const api = useApi();
  const [image, setImage] = useState("");
  const [layers, setLayers] = useState<Layers>(new Map());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const pull = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    setDone(null);
    setLayers(new Map());
    try {
      const answer = await api.POST("/v1/images/pull", {
        body: { image: image.trim(), auth: authOf(creds) },
        headers: { Accept: "text/event-stream" },
        parseAs: "stream",
      });
      await readEvents(answer, {
        progress: (d) => setLayers((old) => addProgress(old, d)),
        done: (d) => {
          const img = d as Image;
          setDone(`Pulled ${img.tags[0] ?? image} (${img.short_id}, ${bytes(img.size)})`);
          onDone(`Pulled ${image}`);
        },
        error: (d) => setError((d as { detail?: string }).detail ?? "The pull failed"),
      });
    } catch (e) {
      setError(problemText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="stack" onSubmit={(e) => { e.preventDefault(); void pull(); }}>
      <div class="row">
        <label>Image to pull<input value={image} required placeholder="busybox:latest or 127.0.0.1:5000/team/app:1" onInput={(e) => setImage((e.target as HTMLInputElement).value)} /></label>
        <button type="submit" class="primary" disabled={busy || !image.trim()}>{busy ? "Pulling…" : "Pull"}</button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      <Progress layers={layers} label="Pull progress" finished={!!done} />
      {done && <p class="notice" role="status">{done}</p>}
    </form>
  );
}

const EXAMPLE = "FROM moorage-test/busybox:latest\nLABEL built.by=moorage\nCMD [\"sleep\", \"3600\"]\n";

function BuildForm({ onDone }: { onDone: (msg: string) => void }) {
  const api = useApi();
  const [tag, setTag] = useState("");
  const [dockerfile, setDockerfile] = useState(EXAMPLE);
  const [tar, setTar] = useState<File | null>(null);
  const [log, setLog] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const build = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    setLog([]);
    try {
      const headers = { Accept: "text/event-stream" };
      const answer = tar
        ? await api.POST("/v1/images/build", {
            params: { query: { tag: tag ? [tag] : undefined } },
            body: tar as unknown as string,
            bodySerializer: (b: unknown) => b as Blob,
            headers: { ...headers, "Content-Type": "application/x-tar" },
            parseAs: "stream",
          })
        : await api.POST("/v1/images/build", { body: { dockerfile, tag: tag || undefined }, headers, parseAs: "stream" });
      await readEvents(answer, {
        log: (d) => setLog((old) => [...old, (d as { line: string }).line]),
        progress: (d) => setLog((old) => [...old, `${(d as { status?: string }).status ?? ""}`]),
        done: (d) => {
          const r = d as { image: string; tags: string[] };
          setLog((old) => [...old, `Built ${r.tags.join(", ") || r.image}`]);
          onDone(`Built ${r.tags[0] ?? r.image}`);
        },
        error: (d) => {
          const p = d as { detail?: string; log?: string };
          setError(p.detail ?? "The build failed");
          if (p.log) setLog(p.log.split("\n"));
        },
      });
    } catch (e) {
      setError(problemText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="stack" onSubmit={(e) => { e.preventDefault(); void build(); }}>
      <label>Tag<input value={tag} placeholder="app:1" onInput={(e) => setTag((e.target as HTMLInputElement).value)} /></label>
      <label>Dockerfile<textarea rows={6} value={dockerfile} disabled={!!tar} onInput={(e) => setDockerfile((e.target as HTMLTextAreaElement).value)} /></label>
      <label>…or a build context (a tar with its Dockerfile)<input type="file" accept=".tar,application/x-tar" onChange={(e) => setTar((e.target as HTMLInputElement).files?.[0] ?? null)} /></label>
      <div class="row"><button type="submit" class="primary" disabled={busy}>{busy ? "Building…" : "Build"}</button></div>
      {error && <p class="error" role="alert">{error}</p>}
      {log.length > 0 && <pre class="log" aria-label="Build log" aria-live="polite">{log.join("\n")}</pre>}
    </form>
  );
}

/** Each running container (its name or image matching the filter): is its tag's image newer? */
function Updates({ who, creds, onChange }: { who: WhoAmI; creds: Creds; onChange: (u: Map<string, Update>) => void }) {
  const api = useApi();
  const [filter, setFilter] = useState("");
  const [updates, setUpdates] = useState<Update[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const check = async (): Promise<void> => {
    setBusy(true);
    setNote(null);
    const list = ok(await api.GET("/v1/containers", {})).filter((c) => !filter || [c.name, c.image ?? ""].some((t) => t.toLowerCase().includes(filter.toLowerCase())));
    const found: Update[] = [];
    const failed: string[] = [];
    await Promise.all(
      list.map(async (c) => {
        const r = await api.GET("/v1/containers/{id}/image-update", { params: { path: { id: c.id } }, headers: registryHeader(creds) });
        if (r.data) found.push({ ...r.data, container: c });
        else failed.push(c.name);
      }),
    );
    setUpdates(found);
    onChange(new Map(found.filter((u) => u.update_available).map((u) => [u.image, u])));
    // After a recreate, its outcome stays on screen; a failure to check is added.
    if (failed.length) setNote(`Not checked (no registry answer): ${failed.join(", ")}`);
    setBusy(false);
  };
  const recreate = async (u: Update): Promise<void> => {
    try {
      const r = ok(await api.POST("/v1/containers/{id}/recreate", { params: { path: { id: u.container.id } }, body: { pull: true, auth: authOf(creds) } }));
      await check();
      setNote(`Recreated ${r.name} on ${r.image}`);
    } catch (e) {
      setNote(`Recreate ${u.container.name} failed: ${problemText(e)}`);
    }
  };
  const stale = (updates ?? []).filter((u) => u.update_available);
  return (
    <div>
      <form class="toolbar" onSubmit={(e) => { e.preventDefault(); void check(); }}>
        <label for="upd-filter">Containers to check</label>
        <input id="upd-filter" value={filter} placeholder="name or image; empty: every running one" onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
        <button type="submit" disabled={busy}>{busy ? "Checking…" : "Check for updates"}</button>
      </form>
      {note && <p class="notice" role="status">{note}</p>}
      {updates && (stale.length === 0 ? <p>Every checked container runs its tag's newest image.</p> : (
        <ul>
          {stale.map((u) => (
            <li key={u.container.id}>
              <strong>{u.container.name}</strong> <span class="badge update">update available</span> for <code>{u.image}</code>{" "}
              {can(who, "admin") && <button type="button" class="small" onClick={() => void recreate(u)}>Recreate {u.container.name}</button>}
            </li>
          ))}
        </ul>
      ))}
    </div>
  );
}

export function ImagesPage({ who, loc }: PageProps) {
  const host = loc.query.get("host") ?? "";
  const api = useApi();
  const [images, setImages] = useState<Image[] | null>(null);
  const [containers, setContainers] = useState<ContainerSummary[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [q, setQ] = useState("");
  const [creds, setCreds] = useState<Creds>({ username: "", password: "" });
  const [asking, setAsking] = useState<{ kind: "remove" | "prune"; img?: Image } | null>(null);
  const [tagging, setTagging] = useState<Image | null>(null);
  const [pushing, setPushing] = useState<{ ref: string; layers: Layers; done?: string; error?: string } | null>(null);
  const [updates, setUpdates] = useState(new Map<string, Update>());
  const operator = can(who, "operator");
  const admin = can(who, "admin");

  const load = async (): Promise<void> => {
    try {
      const [imgs, cs] = await Promise.all([api.GET("/v1/images", {}), api.GET("/v1/containers", { params: { query: { all: true } } })]);
      setImages(ok(imgs));
      setContainers(ok(cs));
      setError(null);
    } catch (e) {
      setError(problemText(e));
    }
  };
  useEffect(() => {
    void load();
    let t: number | undefined;
    const s = openStream("/v1/events", { type: ["image", "container"], host: host || undefined }, {
      pauseHidden: true,
      on: { image: () => { window.clearTimeout(t); t = window.setTimeout(() => void load(), 200); }, container: () => { window.clearTimeout(t); t = window.setTimeout(() => void load(), 200); } },
    });
    return () => { s.close(); window.clearTimeout(t); };
  }, [host]);

  const usedBy = useMemo(() => {
    const m = new Map<string, string[]>();
    for (const img of images ?? []) {
      const names = containers
        .filter((c) => c.image && (img.tags.includes(c.image) || img.tags.includes(`${c.image}:latest`) || img.id.startsWith(c.image) || c.image === img.short_id || `sha256:${c.image}` === img.id.slice(0, 7 + c.image.length)))
        .map((c) => c.name);
      m.set(img.id, names);
    }
    return m;
  }, [images, containers]);

  const shown = (images ?? []).filter((img) => !q || [...img.tags, img.id].some((t) => t.toLowerCase().includes(q.toLowerCase())));
  const dangling = (images ?? []).filter((img) => img.tags.length === 0 && (usedBy.get(img.id) ?? []).length === 0);

  const confirm = async (): Promise<void> => {
    if (!asking) return;
    const a = asking;
    setAsking(null);
    try {
      if (a.kind === "remove" && a.img) {
        ok(await api.DELETE("/v1/images/{ref}", { params: { path: { ref: a.img.tags[0] ?? a.img.id } } }));
        setNotice(`Removed ${shortRef(a.img)}`);
      } else {
        const r = ok(await api.POST("/v1/images/prune", { body: { dangling: true } }));
        setNotice(`Pruned ${r.deleted.length} layer(s), freed ${bytes(r.space_reclaimed)}`);
      }
      void load();
    } catch (e) {
      setNotice(`Failed: ${problemText(e)}`);
    }
  };

  const tag = async (img: Image, to: string): Promise<void> => {
    setTagging(null);
    const cut = to.lastIndexOf(":");
    const hasTag = cut > to.lastIndexOf("/");
    try {
      ok(await api.POST("/v1/images/{ref}/tag", { params: { path: { ref: img.id } }, body: { repository: hasTag ? to.slice(0, cut) : to, tag: hasTag ? to.slice(cut + 1) : "latest" } }));
      setNotice(`Tagged ${shortRef(img)} as ${to}`);
      void load();
    } catch (e) {
      setNotice(`Tag failed: ${problemText(e)}`);
    }
  };

  const push = async (ref: string): Promise<void> => {
    const cut = ref.lastIndexOf(":");
    const hasTag = cut > ref.lastIndexOf("/");
    setPushing({ ref, layers: new Map() });
    try {
      const answer = await api.POST("/v1/images/push", {
        body: { repository: hasTag ? ref.slice(0, cut) : ref, tag: hasTag ? ref.slice(cut + 1) : undefined, auth: authOf(creds) },
        headers: { Accept: "text/event-stream" },
        parseAs: "stream",
      });
      await readEvents(answer, {
        progress: (d) => setPushing((old) => old && { ...old, layers: addProgress(old.layers, d) }),
        done: (d) => setPushing((old) => old && { ...old, done: `Pushed ${ref} (${(d as { digest?: string }).digest ?? ""})` }),
        error: (d) => setPushing((old) => old && { ...old, error: (d as { detail?: string }).detail ?? "The push failed" }),
      });
    } catch (e) {
      setPushing((old) => old && { ...old, error: problemText(e) });
    }
  };

  return (
    <main id="main" class="page">
      <div class="toolbar">
        <h1>Images</h1>
        <HostPicker host={host} />
        <label class="sr-only" for="img-filter">Filter images</label>
        <input id="img-filter" type="search" data-search placeholder="Filter by tag or id" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        {admin && <button type="button" onClick={() => setAsking({ kind: "prune" })}>Prune dangling…</button>}
      </div>
      {notice && <p class="notice" role="status">{notice}</p>}
      {error && <p class="error" role="alert">{error}</p>}
      {operator && (
        <section class="panel" aria-labelledby="h-pull">
          <h2 id="h-pull">Pull</h2>
          <details>
            <summary>Registry credentials (for pull and push; sent with that one call only)</summary>
            <div class="row toolbar">
              <label>User <input autocomplete="username" value={creds.username} onInput={(e) => setCreds({ ...creds, username: (e.target as HTMLInputElement).value })} /></label>
              <label>Password <input type="password" autocomplete="current-password" value={creds.password} onInput={(e) => setCreds({ ...creds, password: (e.target as HTMLInputElement).value })} /></label>
            </div>
          </details>
          <PullForm creds={creds} onDone={(m) => { setNotice(m); void load(); }} />
        </section>
      )}
      {pushing && (
        <section class="panel" aria-labelledby="h-push">
          <h2 id="h-push">Push {pushing.ref}</h2>
          <Progress layers={pushing.layers} label="Push progress" finished={!!pushing.done} />
          {pushing.done && <p class="notice" role="status">{pushing.done}</p>}
          {pushing.error && <p class="error" role="alert">{pushing.error}</p>}
        </section>
      )}
      <section class="panel" aria-labelledby="h-upd" role="region">
        <h2 id="h-upd">Updates</h2>
        <Updates who={who} creds={creds} onChange={setUpdates} />
      </section>
      {admin && (
        <section class="panel" aria-labelledby="h-build">
          <h2 id="h-build">Build</h2>
          <BuildForm onDone={(m) => { setNotice(m); void load(); }} />
        </section>
      )}
      {images === null ? <p>Loading…</p> : (
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Images (scrolls sideways)">
          <table>
            <caption class="sr-only">Images, {shown.length} shown</caption>
            <thead><tr><th scope="col">Tags</th><th scope="col">Id</th><th scope="col">Size</th><th scope="col">Created</th><th scope="col">Used by</th><th scope="col">Actions</th></tr></thead>
            <tbody>
              {shown.map((img) => {
                const used = usedBy.get(img.id) ?? [];
                const upd = img.tags.map((t) => updates.get(t)).find(Boolean);
                return (
                  <tr key={img.id} data-image={img.tags[0] ?? img.id}>
                    <td class="wrap">
                      {img.tags.length ? img.tags.map((t) => <div key={t}><code>{t}</code></div>) : <span class="badge dangling">dangling</span>}
                      {upd && <span class="badge update">update available</span>}
                    </td>
                    <td><code>{img.short_id.replace("sha256:", "")}</code></td>
                    <td class="num">{bytes(img.size)}</td>
                    <td class="num" title={img.created ?? ""}>{age(img.created)}</td>
                    <td>{used.length ? <span class="badge inuse" title={used.join(", ")}>in use ({used.length})</span> : <span class="muted">unused</span>}</td>
                    <td class="actions">
                      {operator && <button type="button" class="small" aria-label={`Tag ${shortRef(img)}`} onClick={() => setTagging(img)}>Tag</button>}
                      {admin && img.tags.length > 0 && <button type="button" class="small" aria-label={`Push ${shortRef(img)}`} onClick={() => void push(img.tags[0] ?? "")}>Push</button>}
                      {operator && <button type="button" class="small danger" aria-label={`Remove ${shortRef(img)}`} onClick={() => setAsking({ kind: "remove", img })}>Remove</button>}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {shown.length === 0 && <p>No image matches.</p>}
        </div>
      )}
      {asking && (
        <Confirm
          title={asking.kind === "prune" ? "Prune dangling images?" : `Remove ${asking.img ? shortRef(asking.img) : ""}?`}
          body={asking.kind === "prune"
            ? `${dangling.length} dangling image(s) no container uses; this frees about ${bytes(dangling.reduce((n, i) => n + i.size, 0))} (layers shared with other images stay).`
            : `The image ${asking.img ? shortRef(asking.img) : ""} is untagged and deleted if no other tag holds it.`}
          confirm={asking.kind === "prune" ? "Prune" : "Remove"}
          danger
          onConfirm={() => void confirm()}
          onCancel={() => setAsking(null)}
        />
      )}
      {tagging && <Prompt title={`Tag ${shortRef(tagging)}`} label="New name (repository:tag)" confirm="Tag" onSubmit={(v) => void tag(tagging, v)} onCancel={() => setTagging(null)} />}
    </main>
  );
}
