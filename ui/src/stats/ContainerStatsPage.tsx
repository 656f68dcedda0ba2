// One container's CPU, memory, network and block I/O, live from its stats stream.
import { useEffect, useState } from "preact/hooks";
import type { StatsSample } from "../api/client";
import { bytes, percent } from "../format";
import type { PageProps } from "../pages";
import { linkTo } from "../router";
import { openStream } from "../streams";
import { Chart } from "./Chart";
import { KEEP, nextPoint, type Point } from "./samples";

const rate = (n: number): string => `${bytes(n)}/s`;

export function ContainerStatsPage({ name = "", loc }: PageProps) {
  const host = loc.query.get("host") ?? undefined;
  const [points, setPoints] = useState<Point[]>([]);
  const [last, setLast] = useState<StatsSample | null>(null);
  const [ended, setEnded] = useState<string | null>(null);
  const [connected, setConnected] = useState(false);

  useEffect(() => {
    let prev: StatsSample | undefined;
    const s = openStream(`/v1/containers/${encodeURIComponent(name)}/stats/stream`, { host }, {
      onState: setConnected,
      on: {
        stats: (d) => {
          const sample = d as StatsSample;
          const p = nextPoint(prev, sample);
          prev = sample;
          setLast(sample);
          setPoints((old) => [...old, p].slice(-KEEP));
        },
        end: (d) => setEnded(`The stream ended: ${(d as { reason?: string }).reason ?? "the container stopped"}`),
        error: (d) => setEnded((d as { detail?: string }).detail ?? "The stream failed"),
      },
    });
    return () => s.close();
  }, [name, host]);

  const col = (k: keyof Point): number[] => points.map((p) => p[k]);
  return (
    <main id="main" class="page">
      <div class="toolbar">
        <a {...linkTo(`/containers/${encodeURIComponent(name)}`)}>← {name}</a>
        <h1>Stats</h1>
        <span class={`live ${connected ? "on" : "off"}`} role="status">{connected ? "live" : "connecting…"}</span>
        {last && <span class="muted" data-samples={points.length}>{points.length} samples · {last.pids} processes · {last.online_cpus} CPUs</span>}
      </div>
      {ended && <p class="notice" role="status">{ended}</p>}
      <div class="charts">
        <Chart title="CPU" series={[{ name: "CPU", values: col("cpu") }]} format={percent} min={1} />
        <Chart title={`Memory (limit ${bytes(last?.memory_limit)})`} series={[{ name: "used", values: col("mem") }]} format={bytes} min={1024 * 1024} />
        <Chart title="Network" series={[{ name: "received", values: col("rx") }, { name: "sent", values: col("tx") }]} format={rate} min={1024} />
        <Chart title="Block I/O" series={[{ name: "read", values: col("read") }, { name: "written", values: col("write") }]} format={rate} min={1024} />
      </div>
    </main>
  );
}
