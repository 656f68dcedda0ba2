"""The terminal page in a real browser against a real moorage and engine: a shell in
a container (xterm.js over /v1/execs/{id}/ws), typed into and read back; reconnected
with the last output replayed; the main process attached. The page's CSP stays on."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from tests.browser.ui_harness import check_page, chromium, served
from tests.conftest import RUN_ID, TEST_LABEL, LiveServer, docker, run_sleeper

server = served("ui-term")


async def screen_text(page: Any) -> str:
    text: str = await page.locator(".terminal-pane .xterm-rows").inner_text()
    return text


async def tty_sizes(page: Any) -> list[str]:
    """The `rows cols` lines `stty size` printed on the screen."""
    text = await screen_text(page)
    return [line.strip() for line in text.splitlines() if re.fullmatch(r"\d+ \d+", line.strip())]


async def wait_for_screen(page: Any, needle: str) -> None:
    await page.wait_for_function(
        "n => (document.querySelector('.terminal-pane .xterm-rows')?.innerText ?? '').includes(n)",
        arg=needle,
        timeout=30_000,
    )


async def test_type_in_a_shell_read_the_echo_and_reconnect(
    server: LiveServer, image: str, name: str
) -> None:
    run_sleeper(image, name)
    async with chromium(server.url) as browser, browser.page() as page:
        await page.goto(f"{server.url}/ui/containers/{name}/terminal?shell=sh")
        await page.get_by_role("status").get_by_text("connected").wait_for()
        await page.locator(".terminal-pane .xterm").click()
        # The shell computes it: what comes back is the shell's output, not our echo.
        await page.keyboard.type("echo sum-$((6*7))\n")
        await wait_for_screen(page, "sum-42")
        # Sized to the pane: the TTY the shell sees is as wide as xterm's grid.
        cols = await page.evaluate(
            "() => Math.round(document.querySelector('.terminal-pane .xterm-screen')"
            ".getBoundingClientRect().width)"
        )
        await page.keyboard.type("stty size\n")
        await page.wait_for_function(
            "() => /\\n\\d+ \\d+\\s/.test(document.querySelector('.terminal-pane .xterm-rows')"
            ".innerText)"
        )
        assert cols > 300
        big = await tty_sizes(page)
        await check_page(page, "terminal-light")

        # Resized with the window: the shell's TTY follows the pane.
        await page.set_viewport_size({"width": 700, "height": 500})
        await page.locator(".terminal-pane .xterm").click()
        await page.keyboard.type("clear; stty size\n")
        small = await tty_sizes(page)
        for _ in range(300):
            if small and small[-1] != big[-1]:
                break
            await asyncio.sleep(0.1)
            small = await tty_sizes(page)
        rows, cols_now = (int(x) for x in small[-1].split())
        big_rows, big_cols = (int(x) for x in big[-1].split())
        assert rows < big_rows
        assert cols_now < big_cols
        await page.set_viewport_size({"width": 1280, "height": 800})

        # Dropped and reattached: the last output is replayed, the shell is the same one.
        await page.keyboard.type("export MARK=kept-$((2+3))\n")
        await page.get_by_role("button", name="Reconnect").click()
        await page.locator(".terminal-pane[data-sockets='2']").wait_for()
        await wait_for_screen(page, "export MARK=kept-")
        await page.locator(".terminal-pane .xterm").click()
        await page.keyboard.type("echo $MARK\n")
        await wait_for_screen(page, "kept-5")
        # The screen was reset for the new socket: what came before is there because
        # moorage replayed it.
        assert "export MARK=kept-" in await screen_text(page)
        await page.get_by_role("button", name="End").click()
    # The shell ended with the page's End: no exec of ours is left running.
    for _ in range(100):
        if not shells(name):
            break
        await asyncio.sleep(0.1)
    assert shells(name) == []


def shells(name: str) -> list[str]:
    top = docker("top", name, "-o", "pid,args")
    return [line for line in top.splitlines()[1:] if line.split(None, 1)[-1] == "sh"]


async def test_attach_to_the_main_process(server: LiveServer, image: str, name: str) -> None:
    docker(
        "run", "-d", "-it", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}",
        "--name", name, image,
        "sh", "-c", "echo main-ready; while read l; do echo got-$l; done",
    )  # fmt: skip
    async with chromium(server.url) as browser, browser.page(dark=True) as page:
        await page.goto(f"{server.url}/ui/containers/{name}/terminal?attach=1")
        await page.get_by_role("status").get_by_text("connected").wait_for()
        await wait_for_screen(page, "main-ready")
        await page.locator(".terminal-pane .xterm").click()
        await page.keyboard.type("hello\n")
        await wait_for_screen(page, "got-hello")
        await check_page(page, "terminal-attach-dark")
        await page.get_by_role("button", name="Detach").click()
    assert "got-hello" in docker("logs", name)
