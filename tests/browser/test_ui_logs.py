"""The log viewer in a real browser against a real moorage and engine: follow a
container, see a line printed after the page opened, search it (regex, invert, in the
URL), lose the stream to a restart of moorage and resume with no line lost or twice,
and the merged view of several containers. What the viewer holds is read the way a
user gets it: "Download all"."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.browser.ui_harness import check_page, chromium, served
from tests.conftest import LiveServer, docker
from tests.sse import run_container

# Loopback with no tokens: the dashboard needs no sign-in. A short SSE retry, so
# that the browser comes back soon after a restart.
server = served("ui-logs", MOORAGE_SSE_RETRY_MS="300")


async def downloaded(page: Any, which: str = "all") -> list[str]:
    """The lines the viewer holds, as "Download all" (or "filtered") saves them."""
    async with page.expect_download() as info:
        await page.get_by_role("button", name=f"Download {which}").click()
    download = await info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    return text.splitlines()


def texts(lines: list[str], merged: bool = False) -> list[str]:
    """`<ts> [<name>] <stream> <text>` → text."""
    return [line.split(" ", 3 if merged else 2)[-1] for line in lines]


def numbered(page: Any) -> Any:
    return page.locator(".loglist .ll .tx").filter(has_text=re.compile(r"^line-\d+$"))


async def shown(page: Any) -> list[str]:
    return list(await page.locator(".loglist .ll .tx").all_inner_texts())


async def test_follow_search_and_resume_after_a_restart(server: LiveServer, name: str) -> None:
    n = 400
    # Lines keep coming for ~20 s: across the page opening, a search and a restart.
    run_container(
        name,
        f"i=1; while [ $i -le {n} ]; do echo line-$i; i=$((i+1)); sleep 0.05; done; sleep 600",
    )
    async with chromium(server.url) as browser, browser.page() as page:
        await page.goto(f"{server.url}/ui/logs?c={name}")
        # Following: the newest lines are in view (the list draws only what is in view).
        await numbered(page).first.wait_for()
        # A line written after the page opened appears while following.
        docker("exec", name, "sh", "-c", "echo printed-after-open > /proc/1/fd/1")
        await page.get_by_text("printed-after-open").wait_for()
        await check_page(page)

        # Search: a regular expression, in the URL, highlighted; inverted.
        await page.get_by_role("button", name=".* Regex").click()
        await page.get_by_label("Search logs").fill("^line-1[0-9]$")
        query = await page.evaluate("() => location.search")
        assert "q=%5Eline-1%5B0-9%5D%24" in query
        assert "re=1" in query
        await page.wait_for_function(
            "() => document.querySelectorAll('.loglist .ll .tx').length === 10"
        )
        assert sorted(await shown(page)) == sorted(f"line-1{d}" for d in range(10))
        assert await page.locator(".loglist mark").count() == 10
        await page.get_by_role("button", name="! Invert").click()
        await page.wait_for_function(
            "() => ![...document.querySelectorAll('.loglist .ll .tx')].some("
            "e => /^line-1[0-9]$/.test(e.textContent))"
        )
        filtered = texts(await downloaded(page, "filtered"))
        assert "line-1" in filtered
        assert "line-15" not in filtered
        # The same view from its URL, in a new page (shareable).
        url = await page.evaluate("() => location.href")
        await page.goto(url)
        await numbered(page).first.wait_for()
        assert (
            await page.get_by_role("button", name="! Invert").get_attribute("aria-pressed")
            == "true"
        )
        await page.get_by_label("Search logs").fill("")
        await page.get_by_role("button", name="! Invert").click()

        # moorage restarts mid-stream: the stream ends ("shutdown"), the browser comes
        # back with Last-Event-ID and the view goes on where it was.
        server.stop()
        await asyncio.sleep(1.5)
        server.start(wait_ready=True)
        await page.get_by_text(f"line-{n}", exact=True).wait_for(timeout=60_000)
        lines = texts(await downloaded(page))
    want = [f"line-{i}" for i in range(1, n + 1)]
    got = [line for line in lines if line.startswith("line-")]
    assert got == want  # nothing lost, nothing twice, in order
    assert lines.count("printed-after-open") == 1


async def test_merged_view_of_a_compose_project(server: LiveServer, name: str) -> None:
    project = f"{name}-p"
    label = ["--label", f"com.docker.compose.project={project}"]
    for k in range(3):
        run_container(
            f"{name}-{k}",
            f"i=1; while [ $i -le 20 ]; do echo c{k}-$i; i=$((i+1)); sleep 0.1; done; sleep 600",
            *label,
        )
    async with chromium(server.url) as browser, browser.page() as page:
        await page.goto(f"{server.url}/ui/logs?project={quote(project)}")
        for k in range(3):
            await page.get_by_text(f"c{k}-20", exact=True).wait_for()
        group = page.get_by_role("group", name="Containers in this view")
        assert await group.get_by_role("button").count() == 3
        # A colour per container, and its name on each line. Read in one go: the list is
        # virtual, and rows taken one by one can be gone (re-rendered) before they are read.
        classes = set(
            await page.locator(".loglist .ll").evaluate_all("rows => rows.map(r => r.className)")
        )
        assert {c.split()[-1] for c in classes if c} >= {"c0", "c1", "c2"}
        lines = await downloaded(page)
        await check_page(page)
        # Hide one container: its lines leave the view, the others stay.
        await group.get_by_role("button", name=f"{name}-1").click()
        filtered = await downloaded(page, "filtered")
    names = [line.split(" ", 2)[1] for line in lines]
    assert {f"{name}-{k}" for k in range(3)} == set(names)
    # Merged in time order.
    stamps = [line.split(" ", 1)[0] for line in lines]
    assert stamps == sorted(stamps)
    for k in range(3):
        mine = [
            t for line, t in zip(lines, texts(lines, True), strict=True) if f"{name}-{k} " in line
        ]
        assert mine == [f"c{k}-{i}" for i in range(1, 21)]
    assert not any(f" {name}-1 " in line for line in filtered)
    assert len(filtered) == 40


async def test_history_earlier_lines_and_a_jump_in_time(server: LiveServer, name: str) -> None:
    n = 3000
    cid = run_container(name, f"seq 1 {n} | sed 's/^/old-/'; sleep 600")
    await asyncio.sleep(1)
    # The engine's own time of line 500, as a user would read it off another screen.
    stamped = docker("logs", "-t", "--tail", str(n - 499), cid).splitlines()[0]
    ts = stamped.split(" ", 1)[0]
    async with chromium(server.url) as browser, browser.page() as page:
        await page.goto(f"{server.url}/ui/logs?c={name}&tail=100")
        await page.get_by_text(f"old-{n}", exact=True).wait_for()
        await page.get_by_text("100 of 100 lines").wait_for()
        # "Load earlier" until the first line is there; no line twice at the seams.
        while "old-1" not in texts(await downloaded(page))[:1]:
            await page.get_by_role("button", name="Load earlier").click()
            await page.get_by_text("Loading earlier").wait_for(state="detached")
        assert texts(await downloaded(page)) == [f"old-{i}" for i in range(1, n + 1)]
        # Jump to a time: the line written then is at the top of the view.
        local = await page.evaluate(
            "(ts) => { const d = new Date(ts); const p = (x) => String(x).padStart(2, '0');"
            " return `${d.getFullYear()}-${p(d.getMonth()+1)}-${p(d.getDate())}T`"
            " + `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; }",
            ts,
        )
        await page.get_by_label("Jump to").fill(local)
        await page.get_by_role("button", name="Go").click()
        top = await page.evaluate(
            "() => { const l = document.querySelector('.loglist');"
            " const rows = [...l.querySelectorAll('.ll')].filter(r =>"
            "  r.getBoundingClientRect().top >= l.getBoundingClientRect().top - 1);"
            " rows.sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top);"
            " return rows[0].querySelector('.tx').textContent; }"
        )
    # The jump lands on the first line of that second (the input has whole seconds).
    first_of_second = int(top.removeprefix("old-"))
    assert 1 <= first_of_second <= 500


HELD = r"""(n) => {
  for (const el of document.querySelectorAll('[role=status]')) {
    const m = (el.textContent ?? '').replace(/,/g, '').match(/(\d+) of (\d+) lines/);
    if (m !== null) return Number(m[2]) >= n;
  }
  return false;
}"""


async def test_a_long_tail_opens_on_its_last_lines_and_fills_in_the_rest(
    server: LiveServer, name: str
) -> None:
    # More history than the stream starts with (FIRST_TAIL, 200 lines): the stream
    # brings the last lines, the history route the rest, while new lines keep coming.
    n = 3000
    run_container(
        name,
        f"seq 1 {n} | sed 's/^/old-/'; i=0;"
        " while true; do i=$((i+1)); echo new-$i; sleep 0.05; done",
    )
    await asyncio.sleep(1)
    async with chromium(server.url) as browser, browser.page() as page:
        await page.goto(f"{server.url}/ui/logs?c={name}&tail=all")
        await page.wait_for_function(HELD, arg=n + 1)
        everything = texts(await downloaded(page))
        # tail=N: the last N lines at the opening (history and new ones), then the new.
        await page.goto(f"{server.url}/ui/logs?c={name}&tail=1000")
        await page.wait_for_function(HELD, arg=1000)
        some = texts(await downloaded(page))
    # Nothing lost or twice at the seam, in order.
    new = everything[n:]
    assert everything[:n] == [f"old-{i}" for i in range(1, n + 1)]
    assert new == [f"new-{i}" for i in range(1, len(new) + 1)]
    old = [t for t in some if t.startswith("old-")]
    assert old, some[:5]
    first = int(old[0].removeprefix("old-"))
    assert old == [f"old-{i}" for i in range(first, n + 1)]
    fresh = some[len(old) :]
    assert fresh == [f"new-{i}" for i in range(1, len(fresh) + 1)]
    # The 1,000 lines at the opening: the newest history and what was new by then.
    assert len(some) >= 1000
    assert first >= n - 1000 + 1


async def test_load_earlier_in_a_history_longer_than_a_step(server: LiveServer, name: str) -> None:
    # 12,000 lines, 5,000 a step: the engine's `tail` counts from the newest line, so
    # a step that asked it for 5,000 "until" the view's first line found none older.
    n = 12_000
    run_container(name, f"seq 1 {n} | sed 's/^/old-/'; sleep 600")
    await asyncio.sleep(1)
    async with chromium(server.url) as browser, browser.page() as page:
        await page.goto(f"{server.url}/ui/logs?c={name}&tail=100")
        await page.get_by_text("100 of 100 lines").wait_for()
        for held in (5_100, 10_100, n):
            await page.get_by_role("button", name="Load earlier").click()
            await page.get_by_text(f"{held:,} of {held:,} lines").wait_for()
            got = texts(await downloaded(page))
            assert got == [f"old-{i}" for i in range(n - held + 1, n + 1)]


async def test_pause_marker_keyboard_and_stream_toggles(server: LiveServer, name: str) -> None:
    run_container(
        name,
        "i=1; while true; do echo out-$i; echo err-$i >&2; i=$((i+1)); sleep 0.1; done",
    )
    async with chromium(server.url) as browser, browser.page() as page:
        await page.goto(f"{server.url}/ui/logs?c={name}")
        await page.get_by_text("out-3", exact=True).wait_for()
        # `f` pauses: new lines are counted on a marker, not scrolled to.
        await page.locator(".loglist").focus()
        await page.keyboard.press("f")
        marker = page.get_by_role("button", name=re.compile(r"^\d+ new lines? ↓$"))
        await marker.wait_for()
        await page.wait_for_function(
            "() => /^([5-9]|\\d\\d+) new lines/.test("
            "document.querySelector('.newlines')?.textContent ?? '')"
        )
        await marker.click()
        await page.get_by_role("button", name="❚❚ Pause").wait_for()
        # stderr off: only stdout lines are shown; then only stderr.
        await page.get_by_role("button", name="stderr").click()
        await page.wait_for_function(
            "() => { const t = [...document.querySelectorAll('.loglist .ll .tx')]"
            ".map(e => e.textContent); return t.length > 0 && t.every(x => x.startsWith('out-')); }"
        )
        await page.get_by_role("button", name="stderr").click()
        await page.get_by_role("button", name="stdout").click()
        await page.wait_for_function(
            "() => { const t = [...document.querySelectorAll('.loglist .ll .tx')]"
            ".map(e => e.textContent); return t.length > 0 && t.every(x => x.startsWith('err-')); }"
        )
        # `/` goes to the search field. Smart case: a capital makes it case-sensitive.
        await page.get_by_role("button", name="stdout").click()  # both streams again
        await page.locator(".loglist").focus()
        await page.keyboard.press("/")
        assert await page.evaluate("() => document.activeElement.id") == "log-search"
        await page.keyboard.type("OUT-")
        await page.get_by_text("0 of ").wait_for()
        await page.get_by_label("Search logs").fill("ERR-")
        await page.get_by_text("0 of ").wait_for()
        await page.get_by_label("Search logs").fill("out-1")
        await page.wait_for_function(
            "() => { const t = [...document.querySelectorAll('.loglist .ll .tx')]"
            ".map(e => e.textContent);"
            " return t.length > 0 && t.every(x => x.startsWith('out-1')); }"
        )
