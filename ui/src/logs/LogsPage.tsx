// The log viewer: one or several containers followed live (merged in time order, a
// colour each), history loaded on demand, search / levels / streams as filters kept in
// the URL, and a virtual list so that 100,000 lines scroll like 100.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { problemText } from "../format";
import { setQuery, type Location } from "../router";
import { follow, history, historyBefore, nameSources, resolveSources, type Source } from "./feed";
import { LogLine, pretty } from "./LogLine";
import { LEVELS, type Level } from "./parse";
import { matcher } from "./search";
import { Layout, LogStore, type Entry } from "./store";

const LINE = 20; // px: one text row (styles.css .ll)
const OVERSCAN = 20;
const DEFAULT_CAP = 100_000;
const EARLIER = 5_000;

function flag(q: URLSearchParams, k: string, dflt: boolean): boolean {
  const v = q.get(k);
  return v === null ? dflt : v === "1";
}

/** Characters per row at the list's width (monospace: every character is as wide). */
function measureCols(el: HTMLElement | null): number {
  if (!el) return 120;
  const probe = document.createElement("span");
  probe.className = "ll-probe";
  probe.textContent = "0".repeat(100);
  el.appendChild(probe);
  const w = probe.getBoundingClientRect().width / 100 || 8;
  probe.remove();
  return Math.max(20, Math.floor((el.clientWidth - 16) / w));
}

export function LogsPage({ loc }: { loc: Location }) {
  const q = loc.query;
  const search = { q: q.get("q") ?? "", regex: flag(q, "re", false), invert: flag(q, "inv", false) };
  const showOut = flag(q, "out", true);
  const showErr = flag(q, "err", true);
  const showTs = flag(q, "ts", true);
  const wrap = flag(q, "wrap", false);
  const levels = new Set((q.get("lv") ?? "").split(",").filter(Boolean) as Level[]);
  const cap = Number(q.get("max")) > 0 ? Number(q.get("max")) : DEFAULT_CAP;
  const tail = q.get("tail") ?? "1000";
  const sourcesKey = [q.get("c"), q.get("service"), q.getAll("label").join("&"), q.get("project"), q.get("host"), tail].join("|");

  const [sources, setSources] = useState<Source[] | null>(null);
  const [hidden, setHidden] = useState<Set<number>>(new Set());
  const [error, setError] = useState<string | null>(null);
  const [following, setFollowing] = useState(!flag(q, "paused", false));
  const [fresh, setFresh] = useState(0); // lines that arrived while paused
  const [, setVersion] = useState(0);
  const [scroll, setScroll] = useState({ top: 0, height: 600 });
  const [cols, setCols] = useState(120);
  const [busy, setBusy] = useState<string | null>(null);
  const [jump, setJump] = useState("");

  const listRef = useRef<HTMLDivElement>(null);
  const store = useRef(new LogStore(cap)).current;
  store.cap = cap;
  const expanded = useRef(new Set<number>()).current;
  const followRef = useRef(following);
  followRef.current = following;
  const ourScroll = useRef(false);

  const m = useMemo(() => matcher(search), [search.q, search.regex, search.invert]);
  const prefixChars = (showTs ? 24 : 0) + ((sources?.length ?? 0) > 1 ? 16 : 0) + 5;
  const rowsOf = (e: Entry): number => {
    if (expanded.has(e.seq) && e.json) return pretty(e).split("\n").length;
    if (!wrap) return 1;
    const len = prefixChars + e.text.length;
    return Math.max(1, Math.ceil(len / cols));
  };
  const pass = (e: Entry): boolean =>
    !hidden.has(e.src) &&
    (e.stream === "stderr" ? showErr : showOut) &&
    (levels.size === 0 || (e.level !== null && levels.has(e.level))) &&
    (!m.active || m.test(e.text));
  const layout = useRef(new Layout(rowsOf, LINE)).current;
  layout.rowsOf = rowsOf;
  // The stream callbacks outlive a render: they read the filter of the latest one.
  const passRef = useRef(pass);
  passRef.current = pass;

  const bump = (): void => setVersion((v) => v + 1);

  /** Rebuild rows and offsets, keeping the line at the top of the view in place. */
  const rebuild = (): void => {
    const el = listRef.current;
    const anchorRow = el ? layout.rowAt(el.scrollTop) : 0;
    const anchor = layout.rows[anchorRow];
    const offset = el && anchor ? el.scrollTop - (layout.tops[anchorRow] ?? 0) : 0;
    layout.rebuild(store.entries, passRef.current);
    if (el && anchor && !followRef.current) {
      const i = layout.rows.indexOf(anchor);
      if (i >= 0) {
        ourScroll.current = true;
        el.scrollTop = (layout.tops[i] ?? 0) + offset;
      }
    }
    bump();
  };

  // Sources from the URL, then one stream each: before the first paint (a layout
  // effect), not a frame after it, as the stream is what the first screen waits for.
  useLayoutEffect(() => {
    let stop: (() => void) | undefined;
    let cancelled = false;
    store.clear();
    layout.rebuild([], pass);
    setSources(null);
    setError(null);
    resolveSources(q).then(
      (srcs) => {
        if (cancelled) return;
        if (srcs.length === 0) {
          setError("No container to follow: open the logs from the containers table.");
          return;
        }
        setSources(srcs);
        void nameSources(srcs).then((changed) => changed && !cancelled && setSources([...srcs]));
        stop = follow(srcs, tail, {
          lines: (batch) => {
            const reordered = store.append(batch);
            if (reordered) rebuild();
            else {
              const added = layout.extend(batch, passRef.current);
              if (!followRef.current && added) setFresh((n) => n + added);
              bump();
            }
          },
          state: () => setSources((s) => (s ? [...s] : s)),
          // The rest of the history, after the first screen: within the cap.
          earlier: (_src, batch) => {
            const room = store.cap - store.entries.length;
            if (room <= 0) return;
            store.prepend(room < batch.length ? batch.slice(batch.length - room) : batch);
            rebuild();
          },
        });
      },
      (e) => setError(problemText(e)),
    );
    return () => {
      cancelled = true;
      stop?.();
    };
  }, [sourcesKey]);

  // Filters, wrap, width: every row again.
  useEffect(rebuild, [search.q, search.regex, search.invert, showOut, showErr, wrap, showTs, cols, [...levels].join(), [...hidden].join()]);

  // The list's size: rows per line when wrapping, and the window to render.
  useEffect(() => {
    const el = listRef.current;
    if (!el) return;
    const ro = new ResizeObserver(() => {
      setCols(measureCols(el));
      setScroll({ top: el.scrollTop, height: el.clientHeight });
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, [sources !== null]);

  // Following: the newest line stays in view.
  useLayoutEffect(() => {
    const el = listRef.current;
    if (el && following && el.scrollTop + el.clientHeight < layout.height) {
      ourScroll.current = true;
      el.scrollTop = layout.height;
    }
  });

  const onScroll = (): void => {
    const el = listRef.current;
    if (!el) return;
    const atBottom = el.scrollTop + el.clientHeight >= layout.height - LINE;
    if (ourScroll.current) ourScroll.current = false;
    else if (followRef.current && !atBottom) setFollowing(false);
    else if (!followRef.current && atBottom && fresh > 0) resume();
    setScroll({ top: el.scrollTop, height: el.clientHeight });
  };

  const resume = (): void => {
    setFresh(0);
    setFollowing(true);
  };
  const pause = (): void => {
    setFresh(0);
    setFollowing(false);
  };

  // f: follow / pause (the finder and `/` are app-wide, see app.tsx).
  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      const t = e.target as HTMLElement | null;
      if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
      if (e.key === "f" && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        if (followRef.current) pause();
        else resume();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const loadEarlier = async (until?: string, since?: string): Promise<void> => {
    if (!sources) return;
    setBusy("Loading earlier lines…");
    try {
      const first = store.entries[0]?.ts;
      const end = until ?? first;
      const of = (s: Source) => store.entries.filter((e) => e.src === s.index);
      const got = (
        await Promise.all(
          sources.map((s) =>
            since
              ? // A jump back in time: every line from then to the view's first.
                history(s, { tail: "all", since, ...(end ? { until: end } : {}) })
              : end
                ? historyBefore(s, end, EARLIER, () => of(s).length, () => of(s).filter((e) => e.ts === end).length)
                : history(s, { tail: EARLIER }),
          ),
        )
      ).flat();
      // Only what is older than the view's first line (the seam's equal stamps are
      // sorted out by historyBefore); a jump's range ends at that line's second.
      const older = first ? got.filter((e) => e.ts < first || (!since && e.ts === first)) : got;
      store.prepend(older);
      setFollowing(false);
      rebuild();
      setBusy(older.length ? null : "No earlier lines.");
    } catch (e) {
      setBusy(`Could not load: ${problemText(e)}`);
    }
  };

  const jumpTo = async (e: Event): Promise<void> => {
    e.preventDefault();
    if (!jump) return;
    const t = new Date(jump);
    if (Number.isNaN(t.getTime())) return;
    const iso = t.toISOString().replace(/\.(\d{3})Z$/, ".$1000000Z");
    const first = store.entries[0]?.ts;
    if (!first || iso < first) await loadEarlier(first, t.toISOString());
    const i = layout.rows.findIndex((r) => r.ts >= iso);
    const el = listRef.current;
    setFollowing(false);
    if (el) {
      ourScroll.current = true;
      el.scrollTop = i >= 0 ? (layout.tops[i] ?? 0) : layout.height;
    }
  };

  const download = (which: "all" | "filtered"): void => {
    // The filter as it is now (the list's rows follow it one frame later).
    const rows = which === "all" ? store.entries : store.entries.filter(passRef.current);
    const multi = (sources?.length ?? 0) > 1;
    const text = rows
      .map((e) => `${e.ts} ${multi ? `${sources?.[e.src]?.name ?? ""} ` : ""}${e.stream} ${e.text}`)
      .join("\n");
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([`${text}\n`], { type: "text/plain" }));
    const names = (sources ?? []).map((s) => s.name).join("+") || "logs";
    a.download = `${names}-${which}.log`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };

  const toggleJson = (seq: number): void => {
    if (expanded.has(seq)) expanded.delete(seq);
    else expanded.add(seq);
    const i = layout.rows.findIndex((r) => r.seq === seq);
    layout.relayout(Math.max(0, i));
    bump();
  };

  const toggle = (k: string, on: boolean) => (
    <button type="button" class="small" aria-pressed={on} onClick={() => setQuery({ [k]: on ? "0" : "1" })}>
      {{ out: "stdout", err: "stderr", ts: "Timestamps", wrap: "Wrap", re: ".* Regex", inv: "! Invert" }[k]}
    </button>
  );

  const multi = (sources?.length ?? 0) > 1;
  const first = Math.max(0, layout.rowAt(scroll.top) - OVERSCAN);
  const last = Math.min(layout.rows.length, layout.rowAt(scroll.top + scroll.height) + OVERSCAN);
  const visible: Entry[] = layout.rows.slice(first, last);
  const title = sources ? sources.map((s) => s.name).join(", ") : "…";

  return (
    <main id="main" class="page logs">
      <div class="toolbar">
        <h1>Logs <span class="count">{title}</span></h1>
      </div>
      <div class="toolbar" role="toolbar" aria-label="Log filters">
        <label class="sr-only" for="log-search">Search logs</label>
        <input id="log-search" type="search" data-search placeholder="Search (/)…" value={search.q}
          aria-invalid={m.error ? true : undefined} aria-describedby={m.error ? "search-error" : undefined}
          onInput={(e) => setQuery({ q: (e.target as HTMLInputElement).value })} />
        {toggle("re", search.regex)}
        {toggle("inv", search.invert)}
        {toggle("out", showOut)}
        {toggle("err", showErr)}
        <span class="levels" role="group" aria-label="Levels">
          {LEVELS.map((l) => (
            <button key={l} type="button" class={`small lvb lv-${l}`} aria-pressed={levels.has(l)}
              onClick={() => {
                const next = new Set(levels);
                if (next.has(l)) next.delete(l);
                else next.add(l);
                setQuery({ lv: [...next].join(",") || null });
              }}>
              {l}
            </button>
          ))}
        </span>
        {toggle("ts", showTs)}
        {toggle("wrap", wrap)}
        <button type="button" class="small" aria-pressed={following} onClick={following ? pause : resume}
          aria-keyshortcuts="f">
          {following ? "❚❚ Pause" : "▶ Follow"}
        </button>
      </div>
      <div class="toolbar">
        <button type="button" class="small" onClick={() => void loadEarlier()} disabled={!sources}>Load earlier</button>
        <form class="jump" onSubmit={(e) => void jumpTo(e)}>
          <label for="jump">Jump to</label>
          <input id="jump" type="datetime-local" step="1" value={jump}
            onInput={(e) => setJump((e.target as HTMLInputElement).value)} />
          <button type="submit" class="small">Go</button>
        </form>
        <button type="button" class="small" onClick={() => download("all")}>Download all</button>
        <button type="button" class="small" onClick={() => download("filtered")}>Download filtered</button>
        <span class="count" role="status" aria-live="polite">
          {layout.rows.length.toLocaleString("en")} of {store.entries.length.toLocaleString("en")} lines
          {store.dropped ? ` (oldest ${store.dropped.toLocaleString("en")} dropped, keeping ${cap.toLocaleString("en")})` : ""}
        </span>
        {busy && <span class="count">{busy}</span>}
      </div>
      {m.error && <p id="search-error" class="error" role="alert">Not a regular expression: {m.error}</p>}
      {error && <p class="error" role="alert">{error}</p>}
      {sources && (
        <div class="sources" role="group" aria-label="Containers in this view">
          {sources.map((s) => (
            <button key={s.index} type="button" class={`small srcb c${s.color}`} aria-pressed={!hidden.has(s.index)}
              title={s.ended ? `stream ended: ${s.ended}` : s.state}
              onClick={() => {
                const next = new Set(hidden);
                if (next.has(s.index)) next.delete(s.index);
                else next.add(s.index);
                setHidden(next);
              }}>
              <span class="dot" aria-hidden="true" />
              {s.name}
              <span class={`st st-${s.state}`}>{s.state === "ended" ? s.ended : s.state}</span>
            </button>
          ))}
        </div>
      )}
      <div class="loglist-wrap">
        <div ref={listRef} class={`loglist${wrap ? " wrap" : ""}`} tabIndex={0} role="log" aria-live="off"
          aria-label={`Log lines of ${title}`} onScroll={onScroll}>
          <div class="spacer" style={{ height: `${layout.height}px` }} />
          {visible.map((e, k) => (
            <LogLine key={e.seq} e={e} src={sources?.[e.src]} top={layout.tops[first + k] ?? 0} showTs={showTs}
              showSrc={multi} expanded={expanded.has(e.seq)} ranges={m.active && !e.json ? m.ranges(e.text) : []}
              onToggle={toggleJson} />
          ))}
        </div>
        {!following && (
          <button type="button" class="newlines primary" onClick={resume}>
            {fresh > 0 ? `${fresh.toLocaleString("en")} new line${fresh === 1 ? "" : "s"} ↓` : "Follow ↓"}
          </button>
        )}
      </div>
    </main>
  );
}
