// Where a view's lines come from: one logs/stream per container (resumed by the
// streams module after a cut: no line lost, none twice) and the history route for
// "load earlier" and jumps back in time.
import { api, ApiError, ok, type ContainerSummary, type LogEvent } from "../api/client";
import { openStream, type Stream } from "../streams";
import { readNdjson } from "./ndjson";
import { beforeSeam, entry, type Entry } from "./store";

export interface Source {
  index: number;
  ref: string; // id or name, as the URL gave it
  host: string | undefined;
  name: string;
  color: number; // 0-7: the view's palette
  state: "connecting" | "live" | "lost" | "ended";
  ended?: string;
  /** A Swarm service's merged task logs (`service=<id>`) instead of one container's. */
  kind?: "service";
}

/** The stream and history routes of a source: a container's, or a service's. */
const base = (src: Source): string =>
  `/v1/${src.kind === "service" ? "services" : "containers"}/${encodeURIComponent(src.ref)}/logs`;

/** `c=web-1,edge:db` (host:name), `label=k=v`, `project=shop`: the containers to follow. */
export async function resolveSources(q: URLSearchParams): Promise<Source[]> {
  const refs: { ref: string; host: string | undefined; name: string }[] = [];
  const host = q.get("host") ?? undefined;
  for (const one of (q.get("c") ?? "").split(",").filter(Boolean)) {
    const i = one.indexOf(":");
    if (i > 0) refs.push({ host: one.slice(0, i), ref: one.slice(i + 1), name: one.slice(i + 1) });
    else refs.push({ host, ref: one, name: one });
  }
  const service = q.get("service");
  const fromService = service ? [{ host, ref: service, name: q.get("name") ?? service, kind: "service" as const }] : [];
  const labels = q.getAll("label");
  const project = q.get("project");
  if (project) labels.push(`com.docker.compose.project=${project}`);
  if (labels.length) {
    const list = ok(
      await api.GET("/v1/containers", { params: { query: { all: true, label: labels } } }),
    ) as (ContainerSummary & { host?: string })[];
    for (const c of list.sort((a, b) => a.name.localeCompare(b.name))) {
      refs.push({ host: c.host, ref: c.id, name: c.name });
    }
  }
  return [...refs, ...fromService].map((r, index) => ({ ...r, index, color: index % 8, state: "connecting" }));
}

/** Names for sources the URL gave by id (the streams do not wait for these). */
export async function nameSources(sources: Source[]): Promise<boolean> {
  const byId = sources.filter((s) => !s.kind && /^[0-9a-f]{12,64}$/.test(s.ref) && s.name === s.ref);
  const got = await Promise.all(
    byId.map((s) =>
      api
        .GET("/v1/containers/{id}", { params: { path: { id: s.ref }, query: s.host ? { host: s.host } : {} } })
        .then((r) => (r.data ? r.data.name : null), () => null),
    ),
  );
  got.forEach((name, i) => {
    const s = byId[i];
    if (s && name) s.name = name;
  });
  return got.some(Boolean);
}

export interface FeedHandlers {
  lines: (batch: Entry[]) => void;
  state: (src: Source) => void;
  /** The history before a source's first streamed line (see FIRST_TAIL), in order. */
  earlier?: (src: Source, batch: Entry[]) => void;
}

/** The first screen needs only the last screenful: a stream starts with at most this
many lines of history, and the rest of a longer `tail` is read after that, from the
history route (a 100,000-line history as SSE events is seconds of parsing before
the first row could be drawn). */
export const FIRST_TAIL = 200;

/** Follow every source; lines reach `lines` once per animation frame, in batches. */
export function follow(sources: Source[], tail: string, h: FeedHandlers): () => void {
  let queue: Entry[] = [];
  let frame = 0;
  let closed = false;
  const flush = (): void => {
    frame = 0;
    const batch = queue;
    queue = [];
    if (batch.length) h.lines(batch);
  };
  const wanted = tail === "all" ? Infinity : Number(tail);
  const streamTail = wanted > FIRST_TAIL ? String(FIRST_TAIL) : tail;

  /** The rest of the history, once the stream's first line (the seam) is known. */
  const fillIn = (src: Source, seam: string, streamed: () => { count: number; sameStamp: number }): void => {
    const newer = (): number => streamed().count;
    void historyBefore(src, seam, wanted, newer, () => streamed().sameStamp).then(
      (older) => {
        if (closed) return;
        // `tail` lines in all: those the stream brought from the history, and these.
        const room = wanted - Math.min(FIRST_TAIL, streamed().count);
        const keep = older.length > room ? older.slice(older.length - room) : older;
        if (keep.length) h.earlier?.(src, keep);
      },
      () => undefined, // "Load earlier" can still ask; the stream goes on
    );
  };

  const streams: Stream[] = sources.map((src) => {
    let seam: string | undefined;
    let count = 0;
    let sameStamp = 0;
    return openStream(
      `${base(src)}/stream`,
      { tail: streamTail, host: src.host },
      {
        onState: (open) => {
          if (src.state === "ended") return;
          src.state = open ? "live" : "lost";
          h.state(src);
        },
        on: {
          log: (d) => {
            const l = d as LogEvent;
            const e = entry(src.index, l.stream, l.ts, l.line);
            queue.push(e);
            if (!frame) frame = requestAnimationFrame(flush);
            count++;
            if (seam === undefined) {
              seam = e.ts;
              if (wanted > FIRST_TAIL) fillIn(src, seam, () => ({ count, sameStamp }));
            }
            if (e.ts === seam) sameStamp++;
          },
          end: (d) => {
            const end = d as { reason?: string; exit_code?: number };
            src.state = "ended";
            src.ended =
              end.reason === "exited" ? `exited (${end.exit_code ?? "?"})` : (end.reason ?? "ended");
            h.state(src);
          },
          error: (d) => {
            src.state = "ended";
            src.ended = (d as { detail?: string }).detail ?? "failed";
            h.state(src);
          },
        },
      },
    );
  });
  return () => {
    closed = true;
    cancelAnimationFrame(frame);
    for (const s of streams) s.close();
  };
}

/** The last `n` lines (Infinity: all) of one source before a seam: the view holds the
lines from `seam` on (`newer()` of this source, `sameStamp()` of them stamped `seam`).
The engine's `tail` counts back from its newest line, not from `until`, so the first
ask covers the lines the view holds too (and those a stream may still be sending);
when that was not enough, the whole history up to the seam. */
export async function historyBefore(
  src: Source,
  seam: string,
  n: number,
  newer: () => number,
  sameStamp: () => number,
): Promise<Entry[]> {
  if (n !== Infinity) {
    const ask = n + newer() + FIRST_TAIL;
    const older = beforeSeam(await history(src, { tail: ask, until: seam }), seam, sameStamp());
    if (older.length >= n) return older.slice(older.length - n);
  }
  const older = beforeSeam(await history(src, { tail: "all", until: seam }), seam, sameStamp());
  return n < older.length ? older.slice(older.length - n) : older;
}

/** History of one source between `since` and `until` (RFC 3339), at most `tail` lines.

The body is parsed as it arrives, a piece at a time, yielding to the page between
pieces: 100,000 lines are never one task. */
export async function history(
  src: Source,
  opts: { since?: string; until?: string; tail: number | string },
): Promise<Entry[]> {
  if (src.kind === "service") {
    // A service's history is one JSON list, merged across its tasks by the server.
    const lines = ok(await api.GET("/v1/services/{id}/logs", {
      params: { path: { id: src.ref }, query: { tail: String(opts.tail), since: opts.since, until: opts.until, host: src.host } },
    }));
    return lines.map((l) => entry(src.index, l.stream, l.ts, l.line));
  }
  const r = await api.GET("/v1/containers/{id}/logs", {
    params: {
      path: { id: src.ref },
      query: {
        tail: String(opts.tail),
        ...(opts.since ? { since: opts.since } : {}),
        ...(opts.until ? { until: opts.until } : {}),
        ...(src.host ? { host: src.host } : {}),
      },
    },
    headers: { Accept: "application/x-ndjson" },
    parseAs: "stream",
  });
  if (!r.response.ok || !r.response.body) throw new ApiError(r.response.status, undefined);
  return readNdjson(r.response.body, (l: LogEvent) => entry(src.index, l.stream, l.ts, l.line));
}
