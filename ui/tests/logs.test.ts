// Unit tests of the log viewer's pure parts (node --test; `npm test`, run by make test).
import assert from "node:assert/strict";
import { test } from "node:test";
import { ansiSpans, detectLevel, jsonSummary, normTs, parseJson, stripAnsi } from "../src/logs/parse";
import { matcher } from "../src/logs/search";
import { readNdjson } from "../src/logs/ndjson";
import { beforeSeam, entry, Layout, LogStore } from "../src/logs/store";
import { fuzzy } from "../src/finder/fuzzy";

test("levels as logs state them", () => {
  assert.equal(detectLevel("2026-12-01 INFO server started"), "info");
  assert.equal(detectLevel("level=warn msg=slow"), "warn");
  assert.equal(detectLevel('{"level":"error","msg":"x"}'), "error");
  assert.equal(detectLevel("[ERROR] boom"), "error");
  assert.equal(detectLevel("E1201 12:00:00.000 glog"), "error");
  assert.equal(detectLevel("panic: runtime error"), "fatal");
  assert.equal(detectLevel("an informative line"), null);
  assert.equal(detectLevel("terror in the night"), null);
});

test("ANSI: colours kept as spans, other escapes dropped", () => {
  const raw = "\x1b[1;31mred\x1b[0m plain \x1b[32mgreen\x1b[39m\x1b[K";
  assert.equal(stripAnsi(raw), "red plain green");
  const spans = ansiSpans(raw);
  assert.deepEqual(spans.map((s) => s.text).join(""), "red plain green");
  assert.deepEqual(spans[0], { text: "red", bold: true, fg: 1 });
  assert.deepEqual(spans[1], { text: " plain " });
  assert.equal(spans[2]?.fg, 2);
  assert.equal(ansiSpans("\x1b[38;5;9mbright\x1b[0m")[0]?.fg, 9);
});

test("JSON lines: objects only, summarised message first", () => {
  assert.deepEqual(parseJson(' {"a":1} '), { a: 1 });
  assert.equal(parseJson("[1,2]"), null);
  assert.equal(parseJson("{not json}"), null);
  assert.equal(jsonSummary({ level: "info", msg: "hello", n: 2 }), "hello level=info n=2");
});

test("timestamps sort as times whatever their fraction", () => {
  assert.equal(normTs("2026-12-01T12:00:00.5Z"), "2026-12-01T12:00:00.500000000Z");
  assert.equal(normTs("2026-12-01T12:00:00Z"), "2026-12-01T12:00:00.000000000Z");
  assert.ok(normTs("2026-12-01T12:00:00.5Z") > normTs("2026-12-01T12:00:00.123456789Z"));
});

test("search: smart case, regex, invert, ranges", () => {
  const plain = matcher({ q: "err", regex: false, invert: false });
  assert.ok(plain.test("ERROR here"));
  const cased = matcher({ q: "Err", regex: false, invert: false });
  assert.ok(!cased.test("ERROR here"));
  assert.ok(cased.test("Err here"));
  const re = matcher({ q: "^a.c$", regex: true, invert: false });
  assert.ok(re.test("abc") && !re.test("xabc"));
  const literal = matcher({ q: "a.c", regex: false, invert: false });
  assert.ok(!literal.test("abc"));
  const inv = matcher({ q: "x", regex: false, invert: true });
  assert.ok(inv.test("abc") && !inv.test("x"));
  assert.deepEqual(plain.ranges("err, err"), [[0, 3], [5, 8]]);
  assert.equal(matcher({ q: "(", regex: true, invert: false }).error !== null, true);
});

test("the store keeps time order across sources and its cap", () => {
  const s = new LogStore(1000);
  s.append([entry(0, "stdout", "2026-12-01T12:00:01Z", "a1"), entry(0, "stdout", "2026-12-01T12:00:03Z", "a3")]);
  const reordered = s.append([entry(1, "stdout", "2026-12-01T12:00:02Z", "b2")]);
  assert.ok(reordered);
  assert.deepEqual(s.entries.map((e) => e.raw), ["a1", "b2", "a3"]);
  const big = new LogStore(100);
  big.append(Array.from({ length: 250 }, (_, i) => entry(0, "stdout", `2026-12-01T12:00:00.${String(i).padStart(3, "0")}Z`, `l${i}`)));
  assert.ok(big.entries.length <= 100);
  assert.equal(big.entries.at(-1)?.raw, "l249");
  assert.equal(big.dropped + big.entries.length, 250);
});

test("the seam between a stream's first line and the history before it", () => {
  const at = (s: number, text: string) => entry(0, "stdout", `2026-12-01T10:00:0${s}.000000000Z`, text);
  // History up to the stream's first stamp (second 2), two lines with that stamp of
  // which the stream sent one (the later: the stream starts at a tail).
  const got = [at(0, "a"), at(1, "b"), at(2, "c"), at(2, "d")];
  assert.deepEqual(beforeSeam(got, got[2]!.ts, 1).map((e) => e.text), ["a", "b", "c"]);
  assert.deepEqual(beforeSeam(got, got[2]!.ts, 2).map((e) => e.text), ["a", "b"]);
  assert.deepEqual(beforeSeam(got, got[2]!.ts, 5).map((e) => e.text), ["a", "b"]);
});

test("prepend: older history placed before, merged sources sorted", () => {
  const at = (src: number, s: number) => entry(src, "stdout", `2026-12-01T10:00:0${s}.000000000Z`, `${src}-${s}`);
  const store = new LogStore(100);
  store.append([at(0, 5), at(1, 6)]);
  store.prepend([at(0, 1), at(0, 2)]); // in order and older: concatenated
  store.prepend([at(1, 4), at(1, 0), at(0, 3)]); // not in order: sorted in
  assert.deepEqual(store.entries.map((e) => e.text), ["1-0", "0-1", "0-2", "0-3", "1-4", "0-5", "1-6"]);
});

test("NDJSON read in pieces cut anywhere, UTF-8 included", async () => {
  const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify({ n: i, s: `é-${i}` })).join("\n") + "\n";
  const bytes = new TextEncoder().encode(lines);
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (let at = 0; at < bytes.length; at += 7) c.enqueue(bytes.slice(at, at + 7));
      c.close();
    },
  });
  const got = await readNdjson(body, (o: { n: number; s: string }) => o);
  assert.equal(got.length, 500);
  assert.deepEqual(got[499], { n: 499, s: "é-499" });
  assert.ok(got.every((o, i) => o.n === i && o.s === `é-${i}`));
});

test("layout: offsets and the row at a position", () => {
  const entries = Array.from({ length: 10 }, (_, i) => entry(0, "stdout", "2026-12-01T12:00:00Z", "x".repeat(i * 10)));
  const layout = new Layout((e) => Math.max(1, Math.ceil(e.text.length / 40)), 20);
  layout.rebuild(entries, () => true);
  // Heights: 1,1,1,1,1,2,2,2,2,3 rows.
  assert.equal(layout.height, 16 * 20);
  assert.equal(layout.rowAt(0), 0);
  assert.equal(layout.rowAt(99), 4);
  assert.equal(layout.rowAt(100), 5);
  assert.equal(layout.rowAt(10_000), 10);
  layout.rebuild(entries, (e) => e.text.length > 50);
  assert.equal(layout.rows.length, 4);
});

test("fuzzy: subsequences, word starts first", () => {
  assert.equal(fuzzy("xyz", "web-1"), null);
  const a = fuzzy("wb", "web-1") ?? -1;
  const b = fuzzy("wb", "newsboard") ?? -1;
  assert.ok(a > 0 && b > 0);
  assert.ok((fuzzy("db", "shop-db") ?? 0) > (fuzzy("db", "sandbox") ?? 0));
});
