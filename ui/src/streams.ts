// The one owner of every EventSource the dashboard opens (pages never open their own).
//
// Resume: the browser reconnects a dropped stream by itself and sends Last-Event-ID;
// when it gives up (an answer that is not 200, e.g. 503 while moorage restarts) this
// module opens the stream again with ?last_event_id= of the last event it saw, with
// back-off. Either way the server continues right after that event: nothing lost,
// nothing twice. A stream whose page is hidden for a while is closed and resumed the
// same way when the page is seen again (`pauseHidden`).

export type Handler = (data: unknown, id: string) => void;

export interface StreamOptions {
  /** Handlers by SSE event name (`log`, `stats`, `health`, `container`, `end`, …). */
  on: Record<string, Handler>;
  /** Called with true when connected, false when the connection is lost. */
  onState?: (open: boolean) => void;
  /** Close while the page is hidden (fleet-wide streams), resume when seen. */
  pauseHidden?: boolean;
  /** Resume after this id from the first connection. */
  after?: string;
}

export interface Stream {
  close(): void;
  /** The id of the last event seen ("" before any). */
  lastId(): string;
}

/** An `end` that asks the client to come back (to this or the next instance). */
function isRenewal(data: unknown): boolean {
  const reason = (data as { reason?: unknown } | null)?.reason;
  return reason === "max-lifetime" || reason === "shutdown";
}

const HIDDEN_GRACE_MS = 30_000;
const MAX_BACKOFF_MS = 10_000;

/** Open a stream at `path` (relative, same origin) with `query`; events go to `on`. */
export function openStream(
  path: string,
  query: Record<string, string | string[] | undefined>,
  opts: StreamOptions,
): Stream {
  let last = opts.after ?? "";
  let source: EventSource | null = null;
  let closed = false;
  let retry: number | undefined;
  let hiddenTimer: number | undefined;
  let backoff = 500;

  const url = (): string => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) q.append(k, one);
    }
    if (last) q.set("last_event_id", last);
    const s = q.toString();
    return s ? `${path}?${s}` : path;
  };

  const connect = (): void => {
    if (closed || source) return;
    const es = new EventSource(url(), { withCredentials: true });
    source = es;
    es.onopen = () => {
      backoff = 500;
      opts.onState?.(true);
    };
    const names = new Set([...Object.keys(opts.on), "end", "error"]);
    for (const name of names) {
      const handler = opts.on[name];
      es.addEventListener(name, (raw: Event) => {
        // The browser's own `error` (a lost connection) is a plain Event, not a message.
        if (!(raw instanceof MessageEvent)) return;
        const ev = raw as MessageEvent<string>;
        if (ev.lastEventId) last = ev.lastEventId;
        let data: unknown = ev.data;
        try {
          data = JSON.parse(ev.data);
        } catch {
          // a plain-text payload stays text
        }
        // `end` for max-lifetime or shutdown: the server closes and the browser
        // reconnects (Last-Event-ID); the stream goes on, the page is not told.
        if (name === "end" && isRenewal(data)) return;
        handler?.(data, ev.lastEventId);
        // The stream said it is over (`end`) or failed (`error`, a problem document).
        if (name === "end" || name === "error") stop();
      });
    }
    es.onerror = () => {
      opts.onState?.(false);
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up: open again ourselves, after the last id we saw.
        source = null;
        if (!closed) {
          retry = window.setTimeout(connect, backoff);
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        }
      }
    };
  };

  const disconnect = (): void => {
    source?.close();
    source = null;
    window.clearTimeout(retry);
  };

  const onVisibility = (): void => {
    if (document.hidden) {
      hiddenTimer = window.setTimeout(disconnect, HIDDEN_GRACE_MS);
    } else {
      window.clearTimeout(hiddenTimer);
      connect();
    }
  };

  const stop = (): void => {
    closed = true;
    disconnect();
    window.clearTimeout(hiddenTimer);
    if (opts.pauseHidden) document.removeEventListener("visibilitychange", onVisibility);
  };

  if (opts.pauseHidden) document.addEventListener("visibilitychange", onVisibility);
  connect();
  return { close: stop, lastId: () => last };
}
