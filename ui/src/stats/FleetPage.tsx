// The fleet: every running container's latest CPU and memory from one stats stream,
// busiest first, with a CPU trace each.
import { useEffect, useState } from "preact/hooks";
import type { StatsSample } from "../api/client";
import { bytes, percent } from "../format";
import type { PageProps } from "../pages";
import { HostPicker } from "../components/HostPicker";
import { linkTo, setQuery } from "../router";
import { openStream } from "../streams";

interface Seen {
  last: StatsSample;
  cpu: number[];
  at: number;
}

const TRACE = 30;
const STALE_MS = 30_000;

function Trace({ values }: { values: number[] }) {
  const top = Math.max(1, ...values);
  const pts = values.map((v, i) => `${((i + TRACE - values.length) / (TRACE - 1)) * 100},${19 - (v / top) * 17}`).join(" ");
  return <svg class="trace" viewBox="0 0 100 20" preserveAspectRatio="none" aria-hidden="true"><polyline points={pts} vector-effect="non-scaling-stroke" /></svg>;
}

export function FleetPage({ loc }: PageProps) {
  const by = loc.query.get("by") === "memory" ? "memory" : "cpu";
  const host = loc.query.get("host") ?? "";
  const [seen, setSeen] = useState(new Map<string, Seen>());
  const [connected, setConnected] = useState(false);

  useEffect(() => {
    // Samples come one per container per interval: one render a frame.
    let batch: StatsSample[] = [];
    let frame = 0;
    const s = openStream("/v1/stats/stream", { host: host || undefined }, {
      onState: setConnected,
      pauseHidden: true,
      on: {
        stats: (d) => {
          batch.push(d as StatsSample);
          if (frame) return;
          frame = requestAnimationFrame(() => {
            frame = 0;
            const add = batch;
            batch = [];
            setSeen((old) => {
              const next = new Map(old);
              const now = Date.now();
              for (const x of add) {
                const was = next.get(x.container_id);
                next.set(x.container_id, { last: x, cpu: [...(was?.cpu ?? []), x.cpu_percent].slice(-TRACE), at: now });
              }
              // A container that stopped sending (stopped, removed) leaves the list.
              for (const [id, v] of next) if (now - v.at > STALE_MS) next.delete(id);
              return next;
            });
          });
        },
      },
    });
    return () => {
      s.close();
      cancelAnimationFrame(frame);
    };
  }, [host]);

  const rows = [...seen.values()].sort((a, b) => (by === "memory" ? b.last.memory_usage - a.last.memory_usage : b.last.cpu_percent - a.last.cpu_percent));
  const totalCpu = rows.reduce((n, r) => n + r.last.cpu_percent, 0);
  const totalMem = rows.reduce((n, r) => n + r.last.memory_usage, 0);
  const maxCpu = Math.max(1, ...rows.map((r) => r.last.cpu_percent));
  const maxMem = Math.max(1, ...rows.map((r) => r.last.memory_usage));
  return (
    <main id="main" class="page">
      <div class="toolbar">
        <h1>Stats</h1>
        <HostPicker host={host} />
        <span class={`live ${connected ? "on" : "off"}`} role="status">{connected ? "live" : "connecting…"}</span>
        <span class="muted">{rows.length} running · CPU {percent(totalCpu)} · memory {bytes(totalMem)}</span>
        <label>Busiest by <select value={by} onChange={(e) => setQuery({ by: (e.target as HTMLSelectElement).value })}>
          <option value="cpu">CPU</option><option value="memory">memory</option>
        </select></label>
      </div>
      <div class="table-wrap" tabIndex={0} role="region" aria-label="Running containers (scrolls sideways)">
        <table class="fleet">
          <caption class="sr-only">Running containers, busiest by {by} first</caption>
          <thead><tr><th scope="col">Container</th><th scope="col">CPU</th><th scope="col">CPU, last {TRACE} samples</th><th scope="col">Memory</th><th scope="col">Processes</th></tr></thead>
          <tbody>
            {rows.map(({ last, cpu }) => (
              <tr key={last.container_id} data-name={last.name}>
                <td><a {...linkTo(`/containers/${encodeURIComponent(last.name)}/stats`)}>{last.name}</a></td>
                <td class="num"><span class="bar" style={{ width: `${(last.cpu_percent / maxCpu) * 4}rem` }} /> {percent(last.cpu_percent)}</td>
                <td><Trace values={cpu} /></td>
                <td class="num"><span class="bar" style={{ width: `${(last.memory_usage / maxMem) * 4}rem` }} /> {bytes(last.memory_usage)}</td>
                <td class="num">{last.pids}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && <p>{connected ? "Waiting for the first samples…" : "Connecting…"}</p>}
      </div>
    </main>
  );
}
