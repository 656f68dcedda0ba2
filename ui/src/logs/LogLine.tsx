// One row of the log list: time, container, level, the text with its ANSI colours and
// search highlights; a JSON object collapsed to one line, or pretty-printed.
import type { ComponentChildren } from "preact";
import { ansiSpans, jsonSummary, type Span } from "./parse";
import type { Source } from "./feed";
import type { Entry } from "./store";

function spanClass(s: Span): string | undefined {
  const c: string[] = [];
  if (s.fg !== undefined) c.push(`a-fg${s.fg}`);
  if (s.bg !== undefined) c.push(`a-bg${s.bg}`);
  if (s.bold) c.push("a-b");
  if (s.dim) c.push("a-d");
  if (s.italic) c.push("a-i");
  if (s.underline) c.push("a-u");
  return c.length ? c.join(" ") : undefined;
}

/** The text in spans, with [start, end) ranges of the plain text marked. */
export function renderText(raw: string, plain: string, ranges: [number, number][]): ComponentChildren {
  const spans = raw === plain ? [{ text: plain }] : ansiSpans(raw);
  if (spans.length === 1 && !ranges.length && !spanClass(spans[0] as Span)) return plain;
  const out: ComponentChildren[] = [];
  let at = 0;
  let r = 0;
  for (const s of spans) {
    const cls = spanClass(s);
    const end = at + s.text.length;
    let pos = at;
    const parts: ComponentChildren[] = [];
    while (pos < end) {
      const range = ranges[r];
      if (!range || range[0] >= end) {
        parts.push(plain.slice(pos, end));
        pos = end;
      } else if (range[0] > pos) {
        parts.push(plain.slice(pos, range[0]));
        pos = range[0];
      } else {
        const stop = Math.min(range[1], end);
        parts.push(<mark>{plain.slice(pos, stop)}</mark>);
        pos = stop;
        if (stop >= range[1]) r++;
      }
    }
    out.push(cls ? <span class={cls}>{parts}</span> : parts);
    at = end;
  }
  return out;
}

export interface LineProps {
  e: Entry;
  src: Source | undefined;
  top: number;
  showTs: boolean;
  showSrc: boolean;
  expanded: boolean;
  ranges: [number, number][];
  onToggle: (seq: number) => void;
}

export function pretty(e: Entry): string {
  return JSON.stringify(e.json, null, 2);
}

export function LogLine(p: LineProps) {
  const { e } = p;
  const cls = `ll${e.stream === "stderr" ? " err" : ""}${e.level ? ` lv-${e.level}` : ""}${p.src ? ` c${p.src.color}` : ""}`;
  return (
    <div class={cls} style={{ transform: `translateY(${p.top}px)` }} data-seq={e.seq}>
      {p.showTs && <span class="ts">{e.ts.slice(0, 23).replace("T", " ")}</span>}
      {p.showSrc && p.src && <span class="src">{p.src.name}</span>}
      {e.level && <span class="lv" aria-label={`level ${e.level}`}>{e.level.toUpperCase()}</span>}
      {e.json ? (
        <>
          <button type="button" class="jt" aria-expanded={p.expanded}
            aria-label={p.expanded ? "Collapse JSON" : "Expand JSON"} onClick={() => p.onToggle(e.seq)}>
            {p.expanded ? "▾" : "▸"}
          </button>
          {p.expanded ? (
            <pre class="json">{pretty(e)}</pre>
          ) : (
            <span class="tx">{renderText(jsonSummary(e.json), jsonSummary(e.json), [])}</span>
          )}
        </>
      ) : (
        <span class="tx">{renderText(e.raw, e.text, p.ranges)}</span>
      )}
    </div>
  );
}
