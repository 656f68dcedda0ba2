// The engines moorage serves (GET /v1/hosts), and their state kept live: streams opened
// with host=* carry an `event: host` {host, state} when one goes down or comes back.
import { useEffect, useState } from "preact/hooks";
import { api, ok, type Schemas } from "../api/client";
import { openStream } from "../streams";

export type Host = Schemas["Host"];

export async function listHosts(): Promise<Host[] | null> {
  const r = await api.GET("/v1/hosts");
  if (r.response.status === 404) return null; // a moorage without the hosts routes
  return ok(r);
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
