// The Swarm pages' data kept live: re-read on every service / node event of the host,
// and, while some service has not reached what it asks for (a scale or rollout under
// way: task state changes on other nodes raise no event here), again every 2 s until
// it has. No event and nothing converging: no request at all.
import { useEffect, useRef, useState } from "preact/hooks";
import { problemText } from "../format";
import { openStream } from "../streams";

const SETTLE_MS = 2_000;

export interface Live<T> {
  data: T | null;
  error: string | null;
  reload: () => void;
}

/** `read()` now, on each swarm event of `host`, and while `busy(data)` holds. */
export function useSwarmLive<T>(host: string, read: () => Promise<T>, busy: (d: T) => boolean, deps: unknown[] = []): Live<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const timer = useRef<number | undefined>(undefined);
  const readRef = useRef(read);
  readRef.current = read;
  const busyRef = useRef(busy);
  busyRef.current = busy;
  const seq = useRef(0);

  const reload = (): void => {
    window.clearTimeout(timer.current);
    const mine = ++seq.current;
    readRef.current().then(
      (d) => {
        if (mine !== seq.current) return; // a later read is under way
        setData(d);
        setError(null);
        if (busyRef.current(d)) timer.current = window.setTimeout(reload, SETTLE_MS);
      },
      (e) => {
        if (mine === seq.current) setError(problemText(e));
      },
    );
  };

  useEffect(() => {
    setData(null);
    reload();
    const s = openStream("/v1/events", { type: ["service", "node", "secret", "config"], host: host || undefined }, {
      pauseHidden: true,
      on: { service: reload, node: reload, secret: reload, config: reload },
      // Back after a cut: what changed meanwhile is read once.
      onState: (open) => open && reload(),
    });
    return () => {
      s.close();
      window.clearTimeout(timer.current);
      seq.current++;
    };
  }, [host, ...deps]);
  return { data, error, reload };
}
