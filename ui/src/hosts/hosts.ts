// The engines moorage serves (GET /v1/hosts), and their state kept live: streams opened
// with host=* carry an `event: host` {host, state} when one goes down or comes back.
import { useEffect, useState } from "preact/hooks";
import { openStream } from "../streams";

/** API.md "Several engines": the fields the dashboard shows. */
export interface Host {
  name: string;
  url: string;
  default: boolean;
  state: "up" | "down" | "connecting" | "disabled";
  version?: string | null;
  api_version?: string | null;
  swarm?: { node_id?: string; role?: string; cluster_id?: string } | null;
  containers?: { running: number; total: number } | null;
  last_seen?: string | null;
  error?: string | null;
  labels?: Record<string, string>;
}

export async function listHosts(): Promise<Host[] | null> {
  const r = await fetch("/v1/hosts", { credentials: "same-origin" });
  if (r.status === 404) return null; // a moorage without hosts: one engine
  if (!r.ok) throw new Error(`hosts: HTTP ${r.status}`);
  return (await r.json()) as Host[];
}

/** The hosts, re-read whenever one changes state; null: a single-engine moorage. */
export function useHosts(): { hosts: Host[] | null; error: string | null } {
  const [hosts, setHosts] = useState<Host[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const load = (): void => {
      listHosts().then(
        (h) => {
          setHosts(h);
          setError(null);
        },
        (e) => setError(e instanceof Error ? e.message : String(e)),
      );
    };
    load();
    const s = openStream("/v1/events", { host: "*", type: "container" }, {
      pauseHidden: true,
      on: { host: load, container: () => undefined },
    });
    return () => s.close();
  }, []);
  return { hosts, error };
}
