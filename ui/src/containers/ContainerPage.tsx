// One container: what it is (inspect), its environment (values hidden until asked),
// mounts, networks, processes and health log; live from its events and health stream.
import { useEffect, useState } from "preact/hooks";
import { api, ok, type Container, type HealthEvent, type Schemas, type WhoAmI } from "../api/client";
import { can } from "../api/session";
import { Confirm } from "../components/Confirm";
import { age, problemText } from "../format";
import { linkTo, navigate, type Location } from "../router";
import { openStream } from "../streams";
import { actionsFor, LABELS, run, type Action } from "./actions";

type Health = Schemas["HealthReport"];
type Top = Schemas["ProcessTable"];

function Env({ env }: { env: string[] }) {
  const [shown, setShown] = useState<Set<number>>(new Set());
  const all = shown.size === env.length && env.length > 0;
  if (env.length === 0) return <p>No environment variables.</p>;
  return (
    <>
      <button type="button" class="small" onClick={() => setShown(all ? new Set() : new Set(env.map((_, i) => i)))}>
        {all ? "Hide all values" : "Show all values"}
      </button>
      <table class="kv">
        <thead><tr><th scope="col">Variable</th><th scope="col">Value</th><th scope="col"><span class="sr-only">Show</span></th></tr></thead>
        <tbody>
          {env.map((kv, i) => {
            const eq = kv.indexOf("=");
            const k = eq >= 0 ? kv.slice(0, eq) : kv;
            const v = eq >= 0 ? kv.slice(eq + 1) : "";
            const open = shown.has(i);
            return (
              <tr key={k}>
                <th scope="row"><code>{k}</code></th>
                <td><code class={open ? "" : "hidden-value"}>{open ? v : "••••••••"}</code></td>
                <td>
                  <button type="button" class="small" aria-pressed={open} aria-label={`${open ? "Hide" : "Show"} value of ${k}`}
                    onClick={() => {
                      const next = new Set(shown);
                      if (open) next.delete(i);
                      else next.add(i);
                      setShown(next);
                    }}>
                    {open ? "Hide" : "Show"}
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}

export function ContainerPage({ who, loc, name }: { who: WhoAmI; loc: Location; name: string }) {
  const host = loc.query.get("host") ?? undefined;
  const [c, setC] = useState<Container | null>(null);
  const [health, setHealth] = useState<Health | null>(null);
  const [top, setTop] = useState<Top | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [asking, setAsking] = useState<Action | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [gone, setGone] = useState(false);

  const load = async (): Promise<void> => {
    try {
      const query = host ? { host } : {};
      const got = ok(await api.GET("/v1/containers/{id}", { params: { path: { id: name }, query } }));
      setC(got);
      setError(null);
      setHealth(ok(await api.GET("/v1/containers/{id}/health", { params: { path: { id: got.id }, query } })));
      if (got.status === "running") {
        const t = await api.GET("/v1/containers/{id}/top", { params: { path: { id: got.id }, query } });
        setTop(t.response.ok && t.data ? t.data : null);
      } else setTop(null);
    } catch (e) {
      setError(problemText(e));
    }
  };

  useEffect(() => {
    void load();
    // A change of this container (start, stop, rename, health) reads it again.
    const events = openStream("/v1/events", { type: "container", container: name, host }, {
      on: {
        container: (d) => {
          const action = (d as { action?: string }).action ?? "";
          if (action === "destroy") setGone(true);
          else if (!action.startsWith("exec_")) void load();
        },
      },
    });
    const hs = openStream(`/v1/containers/${encodeURIComponent(name)}/health/stream`, { host }, {
      on: {
        health: (d) => {
          const h = d as HealthEvent;
          setHealth((old) => (old ? { ...old, status: h.status, failing_streak: h.failing_streak } : old));
          void api.GET("/v1/containers/{id}/health", { params: { path: { id: name }, query: host ? { host } : {} } }).then((r) => r.data && setHealth(r.data));
        },
      },
    });
    return () => {
      events.close();
      hs.close();
    };
  }, [name, host]);

  const act = async (): Promise<void> => {
    if (!asking || !c) return;
    const a = asking;
    setAsking(null);
    try {
      await run(a, { id: c.id, host });
      setNotice(`${LABELS[a]}: done`);
      if (a === "remove") navigate("/");
      else void load();
    } catch (e) {
      setNotice(`${LABELS[a]} failed: ${problemText(e)}`);
    }
  };

  if (error && !c) return <main id="main" class="page"><h1>{name}</h1><p class="error" role="alert">{error}</p></main>;
  if (!c) return <main id="main" class="page" aria-busy="true"><h1>{name}</h1><p>Loading…</p></main>;

  const attrs = c.attrs as {
    Config?: { Env?: string[]; Cmd?: string[]; Entrypoint?: string[]; WorkingDir?: string; User?: string; Hostname?: string };
    HostConfig?: { RestartPolicy?: { Name?: string } };
  };
  const env = attrs.Config?.Env ?? [];
  const hq = host ? `&host=${encodeURIComponent(host)}` : "";
  return (
    <main id="main" class="page container-page">
      <div class="toolbar">
        <a {...linkTo("/")}>← Containers</a>
        <h1>{c.name}</h1>
        <span class={`badge state-${c.status}`}>{c.status}</span>
        {c.health !== "none" && <span class={`badge health-${health?.status ?? c.health}`}>{health?.status ?? c.health}</span>}
        {gone && <span class="badge state-dead">removed</span>}
        <a {...linkTo(`/logs?c=${encodeURIComponent(c.name)}${hq}`)} class="button-link">Logs</a>
        <a {...linkTo(`/containers/${encodeURIComponent(c.name)}/stats${hq.replace("&", "?")}`)} class="button-link">Stats</a>
        {can(who, "admin") && c.status === "running" && <a {...linkTo(`/containers/${encodeURIComponent(c.name)}/terminal${hq.replace("&", "?")}`)} class="button-link">Terminal</a>}
        {can(who, "operator") && !gone &&
          actionsFor(c.status).map((a) => (
            <button key={a} type="button" class={a === "remove" || a === "kill" ? "danger small" : "small"} onClick={() => setAsking(a)}>
              {LABELS[a]}
            </button>
          ))}
      </div>
      {notice && <p class="notice" role="status">{notice}</p>}
      <div class="grid">
        <section aria-labelledby="s-overview" tabIndex={0}>
          <h2 id="s-overview">Overview</h2>
          <dl class="facts">
            <dt>Id</dt><dd><code>{c.short_id}</code></dd>
            <dt>Image</dt><dd>{c.image}</dd>
            <dt>Command</dt><dd><code>{c.command}</code></dd>
            <dt>Created</dt><dd title={c.created ?? ""}>{age(c.created)} ago</dd>
            {c.started_at && <><dt>Started</dt><dd title={c.started_at}>{age(c.started_at)} ago</dd></>}
            {c.exit_code !== null && c.exit_code !== undefined && c.status !== "running" && <><dt>Exit code</dt><dd>{c.exit_code}</dd></>}
            <dt>Restarts</dt><dd>{c.restart_count}</dd>
            <dt>Restart policy</dt><dd>{attrs.HostConfig?.RestartPolicy?.Name || "no"}</dd>
            {attrs.Config?.User && <><dt>User</dt><dd>{attrs.Config.User}</dd></>}
            {attrs.Config?.WorkingDir && <><dt>Working dir</dt><dd><code>{attrs.Config.WorkingDir}</code></dd></>}
          </dl>
          {Object.keys(c.labels ?? {}).length > 0 && (
            <details>
              <summary>Labels ({Object.keys(c.labels ?? {}).length})</summary>
              <dl class="facts">
                {Object.entries(c.labels ?? {}).map(([k, v]) => <><dt><code>{k}</code></dt><dd><code>{v}</code></dd></>)}
              </dl>
            </details>
          )}
        </section>
        <section aria-labelledby="s-health" tabIndex={0}>
          <h2 id="s-health">Health</h2>
          {!health || health.status === "none" ? (
            <p>No health check.</p>
          ) : (
            <>
              <p>Status <span class={`badge health-${health.status}`}>{health.status}</span>, failing streak {health.failing_streak}</p>
              <table class="health-log">
                <thead><tr><th scope="col">Ended</th><th scope="col">Exit</th><th scope="col">Output</th></tr></thead>
                <tbody>
                  {[...(health.log ?? [])].reverse().map((h, i) => (
                    <tr key={i}>
                      <td title={h.end ?? ""}>{h.end ? `${age(h.end)} ago` : "–"}</td>
                      <td>{h.exit_code}</td>
                      <td><code>{h.output.trim() || "(no output)"}</code></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
        </section>
        <section aria-labelledby="s-env" tabIndex={0}>
          <h2 id="s-env">Environment</h2>
          <Env env={env} />
        </section>
        <section aria-labelledby="s-mounts" tabIndex={0}>
          <h2 id="s-mounts">Mounts</h2>
          {(c.mounts ?? []).length === 0 ? <p>No mounts.</p> : (
            <table>
              <thead><tr><th scope="col">Type</th><th scope="col">Source</th><th scope="col">Destination</th><th scope="col">Mode</th></tr></thead>
              <tbody>
                {(c.mounts ?? []).map((mt) => (
                  <tr key={mt.destination}>
                    <td>{mt.type}</td><td><code>{mt.name ?? mt.source}</code></td><td><code>{mt.destination}</code></td>
                    <td>{mt.read_only ? "ro" : "rw"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section aria-labelledby="s-networks" tabIndex={0}>
          <h2 id="s-networks">Networks</h2>
          {Object.keys(c.networks ?? {}).length === 0 ? <p>No networks.</p> : (
            <table>
              <thead><tr><th scope="col">Network</th><th scope="col">Address</th><th scope="col">Gateway</th><th scope="col">Aliases</th></tr></thead>
              <tbody>
                {Object.entries(c.networks ?? {}).map(([n, a]) => (
                  <tr key={n}><td>{n}</td><td><code>{a.ip_address || "–"}</code></td><td><code>{a.gateway || "–"}</code></td><td>{(a.aliases ?? []).join(", ")}</td></tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section aria-labelledby="s-top" tabIndex={0}>
          <h2 id="s-top">Processes</h2>
          {!top ? <p>{c.status === "running" ? "…" : "Not running."}</p> : (
            <div class="table-wrap" tabIndex={0} role="region" aria-label="Processes table">
              <table>
                <thead><tr>{top.titles.map((t) => <th scope="col" key={t}>{t}</th>)}</tr></thead>
                <tbody>{top.processes.map((p, i) => <tr key={i}>{p.map((v, j) => <td key={j}><code>{v}</code></td>)}</tr>)}</tbody>
              </table>
            </div>
          )}
        </section>
      </div>
      <section aria-labelledby="s-inspect" tabIndex={0}>
        <details>
          <summary id="s-inspect">Inspect (the engine's document)</summary>
          <pre class="inspect" tabIndex={0}>{JSON.stringify(c.attrs, (k, v) => (k === "Env" ? "(see Environment)" : v), 2)}</pre>
        </details>
      </section>
      {asking && (
        <Confirm title={`${LABELS[asking]} ${c.name}?`}
          body={asking === "remove" ? "The container and its writable layer are deleted." : `This will ${asking} the container ${c.name}.`}
          confirm={LABELS[asking]} danger={asking === "remove" || asking === "kill"}
          onConfirm={() => void act()} onCancel={() => setAsking(null)} />
      )}
    </main>
  );
}
