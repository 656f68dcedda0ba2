// The lines a log view holds: at most `cap` (the oldest go first), kept in time order
// across containers, with the filtered subset and its row offsets for the virtual list.
import { detectLevel, normTs, parseJson, stripAnsi, type Level } from "./parse";

let nextSeq = 1;

/** One line. Its level and JSON are worked out when first asked (a row drawn, a level
filter), not as it arrives: a 100,000-line history is read at the speed of the wire. */
export class Entry {
  readonly seq = nextSeq++;
  readonly stream: "stdout" | "stderr";
  readonly ts: string; // RFC 3339, nine fraction digits (sorts as time)
  readonly text: string; // without escapes: what search, copy and download see
  private lv: Level | null | undefined;
  private js: Record<string, unknown> | null | undefined;

  constructor(
    readonly src: number, // which source (container) of the view
    stream: string,
    ts: string,
    readonly raw: string, // as the container wrote it (ANSI kept)
  ) {
    this.stream = stream === "stderr" ? "stderr" : "stdout";
    this.ts = normTs(ts);
    this.text = stripAnsi(raw);
  }

  get level(): Level | null {
    if (this.lv === undefined) this.lv = detectLevel(this.text);
    return this.lv;
  }

  get json(): Record<string, unknown> | null {
    if (this.js === undefined) this.js = parseJson(this.text);
    return this.js;
  }
}

export function entry(src: number, stream: string, ts: string, line: string): Entry {
  return new Entry(src, stream, ts, line);
}

function before(a: Entry, b: Entry): boolean {
  return a.ts < b.ts || (a.ts === b.ts && a.seq < b.seq);
}

function inOrder(es: Entry[]): boolean {
  for (let i = 1; i < es.length; i++) if (before(es[i] as Entry, es[i - 1] as Entry)) return false;
  return true;
}

export class LogStore {
  entries: Entry[] = [];
  /** Lines dropped from the front to stay within `cap`. */
  dropped = 0;

  constructor(public cap: number) {}

  /** Add lines as they arrive; true when one landed before the end (a merged view). */
  append(batch: Entry[]): boolean {
    let reordered = false;
    const es = this.entries;
    for (const e of batch) {
      let i = es.length;
      // Sources interleave by time: walk back over the few lines that are later.
      while (i > 0 && before(e, es[i - 1] as Entry)) i--;
      if (i === es.length) es.push(e);
      else {
        es.splice(i, 0, e);
        reordered = true;
      }
    }
    return this.trim() || reordered;
  }

  /** Older lines ("load earlier"), placed in time order. */
  prepend(batch: Entry[]): void {
    const es = this.entries;
    const last = batch[batch.length - 1];
    // One source's history, all of it older: no sort (100,000 lines at once).
    if (last && (es.length === 0 || before(last, es[0] as Entry)) && inOrder(batch)) {
      this.entries = batch.concat(es);
      return;
    }
    const merged = [...batch, ...es];
    merged.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    this.entries = merged;
  }

  private trim(): boolean {
    const over = this.entries.length - this.cap;
    if (over <= 0) return false;
    // In chunks: one splice per 1% of the cap, not one per line.
    const n = Math.max(over, Math.ceil(this.cap / 100));
    this.entries.splice(0, n);
    this.dropped += n;
    return true;
  }

  clear(): void {
    this.entries = [];
  }
}

/** The lines of `got` (history up to and including the stamp `seam`) that come before
a stream's first line, stamped `seam`: every older line, and of the lines stamped
exactly `seam`, those the stream did not send (`sameStamp` of them came by it). */
export function beforeSeam(got: Entry[], seam: string, sameStamp: number): Entry[] {
  const older = got.filter((e) => e.ts < seam);
  const equal = got.filter((e) => e.ts === seam);
  return older.concat(equal.slice(0, Math.max(0, equal.length - sameStamp)));
}

export type Filter = (e: Entry) => boolean;

/** The filtered lines and where each row starts (px), for the virtual list. */
export class Layout {
  rows: Entry[] = [];
  tops: Float64Array = new Float64Array(1024);

  constructor(
    public rowsOf: (e: Entry) => number,
    public lineHeight: number,
  ) {}

  get height(): number {
    return this.tops[this.rows.length] ?? 0;
  }

  rebuild(entries: Entry[], pass: Filter): void {
    this.rows = entries.filter(pass);
    this.relayout(0);
  }

  /** Rows from `from` on got new heights (wrap, width, an expanded JSON line). */
  relayout(from: number): void {
    const n = this.rows.length;
    if (this.tops.length < n + 1) {
      const grown = new Float64Array(Math.max(n + 1, this.tops.length * 2));
      grown.set(this.tops.subarray(0, from + 1));
      this.tops = grown;
    }
    let y = this.tops[from] ?? 0;
    for (let i = from; i < n; i++) {
      this.tops[i] = y;
      y += this.rowsOf(this.rows[i] as Entry) * this.lineHeight;
    }
    this.tops[n] = y;
  }

  /** New lines at the end that pass the filter. */
  extend(batch: Entry[], pass: Filter): number {
    const start = this.rows.length;
    for (const e of batch) if (pass(e)) this.rows.push(e);
    this.relayout(start);
    return this.rows.length - start;
  }

  /** The first row whose bottom is below `y` (binary search over the offsets). */
  rowAt(y: number): number {
    let lo = 0;
    let hi = this.rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.tops[mid + 1] ?? 0) <= y) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
