// Live data of the containers table: the list (re-read when the engine says a
// container changed), CPU/memory from /v1/stats/stream, health from
// /v1/health/stream. Streams only: nothing here polls.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ok, type ContainerSummary, type HealthEvent, type StatsSample } from "../api/client";
import { listHosts } from "../hosts/hosts";
import { openStream } from "../streams";

export type Row = ContainerSummary & { host?: string };

// Every host at once (API.md "Several engines": each item and event then names its
// host), asked only when there are several: a single-engine moorage takes no `host=*`.
let ALL_HOSTS: Record<string, string> = {};

export interface Live {
  rows: Row[] | null;
  error: string | null;
  stats: Map<string, StatsSample>;
  health: Map<string, string>;
  connected: boolean;
  refresh: () => void;
}

export function useContainers(): Live {
  const [rows, setRows] = useState<Row[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [stats, setStats] = useState(new Map<string, StatsSample>());
  const [health, setHealth] = useState(new Map<string, string>());
  const [connected, setConnected] = useState(false);
  const pending = useRef<number | undefined>(undefined);

  const seq = useRef(0);

  const load = async (): Promise<void> => {
    // Answers can overtake each other under a burst: only the newest request counts.
    const mine = ++seq.current;
    try {
      const list = ok(await api.GET("/v1/containers", { params: { query: { all: true, ...ALL_HOSTS } } }));
      if (mine !== seq.current) return;
      setRows(list as Row[]);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  // Bursts of events (compose up, a prune) become one re-read.
  const refresh = (): void => {
    window.clearTimeout(pending.current);
    pending.current = window.setTimeout(() => void load(), 150);
  };

  useEffect(() => {
    let closed = false;
    let close = (): void => undefined;
    void listHosts()
      .catch(() => null)
      .then((hosts) => {
        if (closed) return;
        ALL_HOSTS = (hosts?.length ?? 0) > 1 ? { host: "*" } : {};
        close = subscribe();
      });
    return () => {
      closed = true;
      close();
    };
  }, []);

  const subscribe = (): (() => void) => {
    void load();
    const events = openStream(
      "/v1/events",
      { type: "container", ...ALL_HOSTS },
      { on: { container: refresh }, onState: setConnected, pauseHidden: true },
    );
    // Samples arrive one per container per interval: batch them into one render a frame.
    let batch = new Map<string, StatsSample>();
    let frame = 0;
    const statsStream = openStream(
      "/v1/stats/stream",
      { ...ALL_HOSTS },
      {
        pauseHidden: true,
        on: {
          stats: (d) => {
            const s = d as StatsSample;
            batch.set(s.container_id, s);
            if (!frame) {
              frame = requestAnimationFrame(() => {
                const add = batch;
                batch = new Map();
                frame = 0;
                setStats((old) => new Map([...old, ...add]));
              });
            }
          },
        },
      },
    );
    const healthStream = openStream(
      "/v1/health/stream",
      { ...ALL_HOSTS },
      {
        pauseHidden: true,
        on: {
          health: (d) => {
            const h = d as HealthEvent;
            setHealth((old) => new Map(old).set(h.container_id, h.status));
          },
        },
      },
    );
    return () => {
      events.close();
      statsStream.close();
      healthStream.close();
      cancelAnimationFrame(frame);
      window.clearTimeout(pending.current);
    };
  };

  return { rows, error, stats, health, connected, refresh };
}
