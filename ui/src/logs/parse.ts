// What a log line says about itself: its level, its ANSI colours, whether it is JSON.
// Pure functions (tests/browser measure them in the page; no DOM here).

export type Level = "trace" | "debug" | "info" | "warn" | "error" | "fatal";
export const LEVELS: Level[] = ["trace", "debug", "info", "warn", "error", "fatal"];

const LEVEL_WORDS: Record<string, Level> = {
  trace: "trace",
  trc: "trace",
  debug: "debug",
  dbg: "debug",
  info: "info",
  inf: "info",
  notice: "info",
  warn: "warn",
  warning: "warn",
  wrn: "warn",
  error: "error",
  err: "error",
  eror: "error",
  fatal: "fatal",
  crit: "fatal",
  critical: "fatal",
  panic: "fatal",
  emerg: "fatal",
  alert: "fatal",
};

// `level=warn`, `"level":"warn"`, `[WARN]`, ` ERROR `, `W1201` (glog) near the start.
const KEYED = /\b(?:level|lvl|severity|loglevel)["']?\s*[=:]\s*["']?([a-z]+)/i;
const WORD =
  /(?:^|[\s[(|<])(trace|debug|dbg|info|notice|warn(?:ing)?|error|err|fatal|crit(?:ical)?|panic|emerg|alert)(?=$|[\s\]):|>,])/i;
const GLOG = /^([IWEF])\d{4} \d\d:\d\d:\d\d/;
const GLOG_LEVEL: Record<string, Level> = { I: "info", W: "warn", E: "error", F: "fatal" };

/** The level a line states, or null (then the stream decides nothing: stderr is not an error). */
export function detectLevel(text: string): Level | null {
  const head = text.length > 200 ? text.slice(0, 200) : text;
  const keyed = KEYED.exec(head);
  if (keyed?.[1]) {
    const l = LEVEL_WORDS[keyed[1].toLowerCase()];
    if (l) return l;
  }
  const g = GLOG.exec(head);
  if (g?.[1]) return GLOG_LEVEL[g[1]] ?? null;
  const w = WORD.exec(head);
  if (w?.[1]) return LEVEL_WORDS[w[1].toLowerCase()] ?? null;
  return null;
}

// -- ANSI -------------------------------------------------------------------------------

export interface Span {
  text: string;
  fg?: number; // 0-15: the 16 terminal colours
  bg?: number;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
}

// eslint-disable-next-line no-control-regex
const ESC = /\x1b\[([0-9;]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

export function hasAnsi(text: string): boolean {
  return text.includes("\x1b");
}

/** The text without escape sequences (what search and copy see). */
export function stripAnsi(text: string): string {
  return hasAnsi(text) ? text.replace(ESC, "") : text;
}

/** Spans of text with the SGR colours in force; other escapes are dropped. */
export function ansiSpans(text: string): Span[] {
  if (!hasAnsi(text)) return [{ text }];
  const spans: Span[] = [];
  let cur: Omit<Span, "text"> = {};
  let at = 0;
  ESC.lastIndex = 0;
  for (let m = ESC.exec(text); m; m = ESC.exec(text)) {
    if (m.index > at) spans.push({ ...cur, text: text.slice(at, m.index) });
    at = m.index + m[0].length;
    if (m[2] !== "m") continue;
    const codes = (m[1] || "0").split(";").map((c) => Number(c) || 0);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i] ?? 0;
      if (c === 0) cur = {};
      else if (c === 1) cur.bold = true;
      else if (c === 2) cur.dim = true;
      else if (c === 3) cur.italic = true;
      else if (c === 4) cur.underline = true;
      else if (c === 22) cur.bold = cur.dim = false;
      else if (c === 23) cur.italic = false;
      else if (c === 24) cur.underline = false;
      else if (c >= 30 && c <= 37) cur.fg = c - 30;
      else if (c >= 90 && c <= 97) cur.fg = c - 90 + 8;
      else if (c === 39) delete cur.fg;
      else if (c >= 40 && c <= 47) cur.bg = c - 40;
      else if (c >= 100 && c <= 107) cur.bg = c - 100 + 8;
      else if (c === 49) delete cur.bg;
      else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
        // 256 colours: the first 16 map on; the rest fall back to the default.
        const n = codes[i + 2] ?? 0;
        if (n < 16) {
          if (c === 38) cur.fg = n;
          else cur.bg = n;
        }
        i += 2;
      } else if ((c === 38 || c === 48) && codes[i + 1] === 2) {
        i += 4; // truecolour: not kept (the theme's colours stay readable)
      }
    }
  }
  if (at < text.length) spans.push({ ...cur, text: text.slice(at) });
  return spans;
}

// -- JSON -------------------------------------------------------------------------------

/** The object a line holds when it is one JSON object, else null. */
export function parseJson(text: string): Record<string, unknown> | null {
  const t = text.trim();
  if (t.length < 2 || t[0] !== "{" || t[t.length - 1] !== "}") return null;
  try {
    const v: unknown = JSON.parse(t);
    return v !== null && typeof v === "object" && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

const MESSAGE_KEYS = ["msg", "message", "event", "text", "log"];

/** One line for a collapsed JSON object: its level and message first. */
export function jsonSummary(obj: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const k of MESSAGE_KEYS) {
    if (typeof obj[k] === "string") {
      parts.push(obj[k] as string);
      break;
    }
  }
  for (const [k, v] of Object.entries(obj)) {
    if (MESSAGE_KEYS.includes(k) && v === parts[0]) continue;
    parts.push(`${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  }
  return parts.join(" ");
}

// -- time -------------------------------------------------------------------------------

/** RFC 3339 with exactly nine fraction digits, so that strings sort as times do. */
export function normTs(ts: string): string {
  // The engine's own form (nine digits, UTC) is already normal: most lines.
  if (ts.length === 30 && ts.charCodeAt(29) === 90 && ts.charCodeAt(19) === 46) return ts;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$/.exec(ts);
  if (!m) return ts;
  if (m[3] && m[3] !== "Z") {
    const d = new Date(ts);
    if (Number.isNaN(d.getTime())) return ts;
    return `${d.toISOString().slice(0, 19)}.${(m[2] ?? "").padEnd(9, "0").slice(0, 9)}Z`;
  }
  return `${m[1]}.${(m[2] ?? "").padEnd(9, "0").slice(0, 9)}Z`;
}
