"""A real browser (headless Debian chromium, driven by Playwright) follows a log
stream with EventSource and resumes after forced reconnects without gap or repeat.

The page is served at a path on moorage's own origin (Playwright answers that one
request), so the EventSource is same-origin and needs no CORS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.browser.ui_harness import ARGS, CHROMIUM, skip_without_chromium
from tests.conftest import LiveServer, docker
from tests.sse import run_container

pytestmark = skip_without_chromium
PAGE = (Path(__file__).parent / "page.html").read_text()


async def test_browser_follows_and_resumes(name):
    playwright = pytest.importorskip("playwright.async_api")
    n = 120
    server = LiveServer(
        env={"MOORAGE_SSE_MAX_LIFETIME": "1.5", "MOORAGE_SSE_RETRY_MS": "200"}
    ).start(wait_ready=True)
    try:
        cid = run_container(
            name,
            "while [ ! -f /tmp/go ]; do sleep 0.05; done; "
            f"i=1; while [ $i -le {n} ]; do echo b$i; i=$((i+1)); sleep 0.03; done",
        )
        async with playwright.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await browser.new_page()

                async def serve_page(route):
                    await route.fulfill(status=200, content_type="text/html", body=PAGE)

                await page.route(lambda url: "/__test__/page.html" in url, serve_page)
                stream = f"/v1/containers/{cid}/logs/stream"
                await page.goto(f"{server.url}/__test__/page.html?stream={stream}")
                await page.wait_for_function("window.opens >= 1", timeout=20_000)
                docker("exec", cid, "touch", "/tmp/go")
                await page.wait_for_function("window.done !== null", timeout=60_000)
                lines = await page.evaluate("window.lines")
                ids = await page.evaluate("window.ids")
                opens = await page.evaluate("window.opens")
                done = await page.evaluate("window.done")
            finally:
                await browser.close()
    finally:
        server.stop()
    await asyncio.sleep(0)
    assert lines == [f"b{i}" for i in range(1, n + 1)]
    assert len(set(ids)) == n
    assert opens >= 2  # it did reconnect (and resumed by Last-Event-ID)
    assert done == {"reason": "exited", "exit_code": 0}
