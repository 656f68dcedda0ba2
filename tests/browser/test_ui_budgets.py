"""The dashboard's budgets, measured in a real browser and reported (issue 18):

- the first page's JS+CSS, gzipped: at most 200 KB (a size, asserted);
- a 100,000-line history: time from opening to the first screen of lines and to all of
  them, then frame times while scrolling through the whole list;
- a container writing at least 5,000 lines/s (numbered: none may be lost) followed for
  30 s: the longest main-thread task and the JS heap, with the view keeping its last N
  lines (`?max=`).

Times are reported, never asserted (the machine is shared). The figures are also
written to ui/screenshots/figures.json, beside the screenshots."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import statistics
from pathlib import Path
from typing import Any

import pytest

from tests.browser.ui_harness import DIST, SHOTS, chromium, served
from tests.conftest import LiveServer
from tests.sse import run_container

BUDGET_GZ = 200_000
FIGURES = SHOTS / "figures.json"

# Before the page's own scripts: when the first log row appears, and every long task.
OBSERVE = """
window.__long = [];
try {
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) window.__long.push(e.duration);
  }).observe({ type: "longtask", buffered: true });
} catch (e) {}
new MutationObserver((_, obs) => {
  if (window.__firstRender === undefined && document.querySelector("#app > *")) {
    window.__firstRender = performance.now();
  }
  if (document.querySelector(".loglist .ll")) {
    window.__firstLine = performance.now();
    obs.disconnect();
  }
}).observe(document, { childList: true, subtree: true });
// When the page opened its first stream and when that stream's first line came.
const Source = window.EventSource;
window.EventSource = class extends Source {
  constructor(...args) {
    super(...args);
    window.__streamOpened ??= performance.now();
    this.addEventListener("log", () => { window.__streamLine ??= performance.now(); });
  }
};
"""

# Where the first screen's time went, from navigation start (ms): the HTML in, the
# entry script in, the first render, the sign-in check, the stream opened, its first line.
BREAKDOWN = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const res = performance.getEntriesByType("resource");
  const one = (test) => res.find((r) => test(r.name));
  const script = one((n) => /\\/assets\\/index-[^/]+\\.js$/.test(n));
  const css = one((n) => /\\/assets\\/index-[^/]+\\.css$/.test(n));
  const who = one((n) => n.includes("/v1/auth/whoami"));
  const r = (x) => (x === undefined ? null : Math.round(x));
  return {
    html_response_end: r(nav?.responseEnd),
    script_response_end: r(script?.responseEnd),
    css_response_end: r(css?.responseEnd),
    first_render: r(window.__firstRender),
    whoami_start: r(who?.startTime),
    whoami_end: r(who?.responseEnd),
    stream_opened: r(window.__streamOpened),
    stream_first_line: r(window.__streamLine),
    first_line_drawn: r(window.__firstLine),
  };
}"""


async def downloaded(page: Any) -> list[str]:
    """The lines the viewer holds, as "Download all" saves them."""
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Download all").click()
    download = await info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    return text.splitlines()


def report(capsys: pytest.CaptureFixture[str], key: str, value: Any, line: str) -> None:
    figures = json.loads(FIGURES.read_text()) if FIGURES.is_file() else {}
    if isinstance(value, dict):
        # The machine is shared: times mean little without its load beside them.
        value["load_1min"] = round(os.getloadavg()[0], 1)
    figures[key] = value
    SHOTS.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    with capsys.disabled():
        print(f"\n[ui budget] {line} (load {os.getloadavg()[0]:.1f})")


server = served("ui-budget")


def test_first_page_weight(capsys: pytest.CaptureFixture[str]) -> None:
    html = (DIST / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="/ui/(assets/[^"]+\.(?:js|css))"', html)
    assert refs, html
    sizes = {ref: len(gzip.compress((DIST / ref).read_bytes(), 9)) for ref in refs}
    total = sum(sizes.values())
    report(
        capsys,
        "first_page_gzip_bytes",
        total,
        f"first page JS+CSS gzipped: {total / 1000:.1f} KB (budget {BUDGET_GZ / 1000:.0f} KB): "
        + ", ".join(f"{k} {v / 1000:.1f} KB" for k, v in sizes.items()),
    )
    assert total <= BUDGET_GZ


async def test_a_100k_line_history(
    server: LiveServer, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    n = 100_000
    run_container(name, f"seq 1 {n} | sed 's/^/history line /'; sleep 600")
    async with chromium(server.url) as browser, browser.page() as page:
        # The engine holds every line before the page opens.
        await page.add_init_script(OBSERVE)
        await page.goto(f"{server.url}/ui/logs?c={name}&tail=all&paused=1")
        await page.wait_for_function("() => window.__firstLine !== undefined", timeout=60_000)
        first = await page.evaluate("() => window.__firstLine")
        breakdown = await page.evaluate(BREAKDOWN)
        await page.get_by_text(f"{n:,} of {n:,} lines").wait_for(timeout=120_000)
        all_in = await page.evaluate("() => performance.now()")
        # Scroll the whole list, one step per frame, and time the frames.
        frames = await page.evaluate(
            """async () => {
              const el = document.querySelector('.loglist');
              const steps = 300, deltas = [];
              el.scrollTop = 0;
              await new Promise(r => requestAnimationFrame(r));
              let last = performance.now();
              for (let i = 1; i <= steps; i++) {
                el.scrollTop = (el.scrollHeight - el.clientHeight) * i / steps;
                await new Promise(r => requestAnimationFrame(r));
                const now = performance.now(); deltas.push(now - last); last = now;
              }
              return deltas;
            }"""
        )
        bottom = await page.locator(".loglist .ll .tx").all_inner_texts()
        long_tasks = await page.evaluate("() => window.__long")
    assert f"history line {n}" in bottom
    frames.sort()
    fig = {
        "first_screen_ms": round(first),
        "all_lines_ms": round(all_in),
        "scroll_frame_ms_p50": round(statistics.median(frames), 1),
        "scroll_frame_ms_p95": round(frames[int(len(frames) * 0.95)], 1),
        "scroll_frame_ms_max": round(frames[-1], 1),
        "long_tasks_over_50ms": len(long_tasks),
        "longest_task_ms": round(max(long_tasks, default=0)),
        "first_screen_breakdown_ms": breakdown,
    }
    report(
        capsys,
        "history_100k",
        fig,
        f"100,000-line history: first screen {fig['first_screen_ms']} ms after opening, "
        f"all lines {fig['all_lines_ms']} ms; scrolling all of it: frames p50 "
        f"{fig['scroll_frame_ms_p50']} ms, p95 {fig['scroll_frame_ms_p95']} ms, max "
        f"{fig['scroll_frame_ms_max']} ms; {fig['long_tasks_over_50ms']} long tasks, "
        f"longest {fig['longest_task_ms']} ms; first screen from navigation start: {breakdown}",
    )


async def test_following_5000_lines_a_second(
    server: LiveServer, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    keep = 20_000
    seconds = 30
    # At least 5,000 lines/s, numbered 1, 2, 3, …: paced by the clock (/proc/uptime,
    # in 1/100 s), not by sleeps, so the shell's own slowness does not lower the rate:
    # each round prints every line due by now at 5,100 a second (51 per 1/100 s).
    run_container(
        name,
        "read up rest < /proc/uptime; t0=${up%.*}${up#*.}; sent=0; while true; do"
        " read up rest < /proc/uptime; due=$(( (${up%.*}${up#*.} - t0) * 51 ));"
        " if [ $due -gt $sent ]; then seq $((sent + 1)) $due | sed 's/^/line /'; sent=$due; fi;"
        " sleep 0.05; done",
    )
    async with chromium(server.url) as browser, browser.page() as page:
        await page.add_init_script(OBSERVE)
        await page.goto(f"{server.url}/ui/logs?c={name}&tail=0&max={keep}")
        await page.wait_for_function("() => window.__firstLine !== undefined", timeout=30_000)
        heap0 = await page.evaluate("() => performance.memory.usedJSHeapSize")
        start = await page.evaluate("() => performance.now()")
        await page.wait_for_timeout(seconds * 1000)
        status = await page.get_by_role("status").filter(has_text="lines").inner_text()
        got = await page.evaluate(
            """() => ({
              now: performance.now(),
              heap: performance.memory.usedJSHeapSize,
              long: window.__long,
              rows: document.querySelectorAll('.loglist .ll').length,
            })"""
        )
        held_texts = await downloaded(page)
    counts = [int(x.replace(",", "")) for x in re.findall(r"\d[\d,]*", status)]
    held = counts[1]
    dropped = counts[2] if len(counts) > 2 else 0
    rate = (held + dropped) / ((got["now"] - start) / 1000)
    assert held <= keep + keep // 100  # the view keeps its last N (trimmed in 1% chunks)
    # None lost or twice among the lines held: consecutive numbers.
    numbers = [int(line.rsplit(" ", 1)[-1]) for line in held_texts]
    assert len(numbers) >= keep // 2, len(numbers)
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    fig = {
        "lines_per_s": round(rate),
        "seconds": seconds,
        "kept": held,
        "dropped": dropped,
        "longest_task_ms": round(max(got["long"], default=0)),
        "tasks_over_200ms": sum(1 for t in got["long"] if t > 200),
        "heap_mb_start": round(heap0 / 1e6, 1),
        "heap_mb_end": round(got["heap"] / 1e6, 1),
        "rows_in_dom": got["rows"],
    }
    report(
        capsys,
        "follow_5000_per_s",
        fig,
        f"following ~{fig['lines_per_s']} lines/s for {seconds} s (keeping {keep:,}): "
        f"longest main-thread task {fig['longest_task_ms']} ms, "
        f"{fig['tasks_over_200ms']} over 200 ms; JS heap {fig['heap_mb_start']} → "
        f"{fig['heap_mb_end']} MB; {fig['rows_in_dom']} rows in the DOM",
    )
