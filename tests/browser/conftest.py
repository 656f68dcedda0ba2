"""What every browser test module shares: the dashboard tests' marks, the `tokens` and
`browser` fixtures (helpers: ui_harness.py).

Each test of a `test_ui*.py` module drives the built dashboard in Chromium: it is
skipped without them (`skip_without_ui`) and marked slow, here rather than in every
module. test_ui_chunks.py only weighs the build, with its own skip; test_browser.py
serves a page of its own (skip_without_chromium)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.browser.ui_harness import Browser, Tokens, chromium, skip_without_ui
from tests.conftest import LiveServer

HERE = Path(__file__).parent
_BUILD_ONLY = {"test_ui_chunks.py"}


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path
        if path.parent == HERE and path.name.startswith("test_ui") and path.name not in _BUILD_ONLY:
            for mark in (*skip_without_ui, pytest.mark.slow):
                item.add_marker(mark)


@pytest.fixture(scope="module")
def tokens() -> Tokens:
    """One token of each role, for a module whose server is `served(..., signed_in=True)`."""
    return Tokens()


@pytest.fixture
async def browser(server: LiveServer) -> AsyncIterator[Browser]:
    """Chromium for the module's `server`; the test fails on any request elsewhere."""
    async with chromium(server.url) as b:
        yield b
