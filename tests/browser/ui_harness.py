"""What the dashboard's browser tests share: a moorage with tokens under a real uvicorn,
Debian's Chromium driven by Playwright (never `playwright install`), a guard that fails
a test on any request leaving for anywhere but moorage, axe-core (npm, from ui/) run in
the page, and screenshots under ui/screenshots/."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app.security import hash_token, new_token
from tests.conftest import ROOT, LiveServer

CHROMIUM = os.environ.get("MOORAGE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DIST = ROOT / "app" / "ui" / "dist"
AXE = ROOT / "ui" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "ui" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

skip_without_chromium = [
    pytest.mark.engine,
    pytest.mark.skipif(
        not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()),
        reason="no chromium: run scripts/system-packages.sh chromium",
    ),
]
skip_without_ui = [
    *skip_without_chromium,
    pytest.mark.skipif(
        not (DIST / "index.html").is_file() or not AXE.is_file(),
        reason="the dashboard is not built: run make ui",
    ),
]


@dataclass
class Tokens:
    admin: str = field(default_factory=new_token)
    operator: str = field(default_factory=new_token)
    viewer: str = field(default_factory=new_token)

    def write(self, path: Path) -> Path:
        path.write_text(
            "\n".join(
                f'[[tokens]]\nname = "{role}-ui"\nrole = "{role}"\nsha256 = "{hash_token(tok)}"\n'
                for role, tok in (
                    ("admin", self.admin),
                    ("operator", self.operator),
                    ("viewer", self.viewer),
                )
            )
        )
        return path


def ui_server(tmp: Path, tokens: Tokens | None, **env: str) -> LiveServer:
    """moorage on a loopback port; with `tokens`, sign-in is required."""
    extra = {"MOORAGE_AUDIT_DB": str(tmp / "audit.sqlite3"), **env}
    if tokens is not None:
        extra["MOORAGE_TOKENS_FILE"] = str(tokens.write(tmp / "tokens.toml"))
    return LiveServer(env=extra)


def served(tag: str, *, signed_in: bool = False, **env: str) -> Any:
    """A module's `server` fixture (`server = served("ui-x")`): moorage for its browser
    tests, one for the module; `signed_in`: sign-in with the module's `tokens` fixture
    (tests/browser/conftest.py)."""

    @pytest.fixture(scope="module")
    def server(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[LiveServer]:
        tokens: Tokens | None = request.getfixturevalue("tokens") if signed_in else None
        s = ui_server(tmp_path_factory.mktemp(tag), tokens, **env).start(wait_ready=True)
        yield s
        s.stop()

    return server


@dataclass
class Browser:
    """One Chromium; pages made by `page()` are guarded against outside requests."""

    pw: Any
    browser: Any
    origin: str
    outside: list[str] = field(default_factory=list)

    @asynccontextmanager
    async def page(self, *, dark: bool = False, phone: bool = False) -> AsyncIterator[Any]:
        # The page's own CSP stays on: a script or style it refuses fails the test.
        context = await self.browser.new_context(
            viewport=PHONE if phone else DESKTOP,
            color_scheme="dark" if dark else "light",
            accept_downloads=True,
        )

        async def guard(route: Any) -> None:
            url = route.request.url
            if url.startswith(self.origin + "/") or url == self.origin:
                await route.continue_()
            else:
                self.outside.append(url)
                await route.abort()

        await context.route("**/*", guard)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "console",
            lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
        try:
            yield page
        finally:
            await context.close()
        assert not errors, errors


@asynccontextmanager
async def chromium(origin: str) -> AsyncIterator[Browser]:
    playwright = pytest.importorskip("playwright.async_api")
    async with playwright.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        b = Browser(pw, browser, origin)
        try:
            yield b
        finally:
            await browser.close()
        assert not b.outside, f"requests left for elsewhere: {b.outside}"


async def axe(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (every rule, WCAG 2.x A/AA)."""
    # Evaluated over the DevTools protocol, which the page's CSP does not govern.
    await page.evaluate(AXE.read_text())
    result = await page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})); }"
    )
    violations: list[dict[str, Any]] = result
    return violations


async def check_page(page: Any, shot: str | None = None) -> None:
    """No axe violation; with `shot`, a screenshot at ui/screenshots/<shot>.png."""
    violations = await axe(page)
    if shot is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"{shot}.png"))
    assert violations == [], json.dumps(violations, indent=1)


async def sign_in(page: Any, origin: str, token: str) -> None:
    await page.goto(origin + "/")
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Containers").wait_for()
