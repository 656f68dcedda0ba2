"""The dashboard's split chunks, read from the build (the first page's weight in a
browser is test_ui_budgets.py's): xterm.js and issue 19's pages are not in what
index.html loads (each is a chunk loaded when its page opens), and the first page stays
within 200 KB gzipped with them split off. Every chunk's gzipped size is written to
ui/screenshots/chunks.json beside the screenshots."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from tests.browser.ui_harness import DIST, SHOTS

pytestmark = pytest.mark.skipif(
    not (DIST / "index.html").is_file(), reason="the dashboard is not built: run make ui"
)
FIRST_PAGE_BUDGET = 200 * 1024


def gz(name: str) -> int:
    return len(gzip.compress((DIST / name).read_bytes(), compresslevel=9))


def first_page() -> list[str]:
    html = (DIST / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="/ui/(assets/[^"]+\.(?:js|css))"', html)
    assert refs, html
    return refs


def test_the_first_page_carries_no_split_page() -> None:
    files = first_page()
    total = sum(gz(f) for f in files)
    assert total <= FIRST_PAGE_BUDGET, (files, total)
    for f in files:
        text = (DIST / f).read_text()
        # xterm.js's own code (its DOM renderer's class names), not just the chunk's name.
        assert "xterm-helper-textarea" not in text, f
    chunks = {
        p.name: gz(f"assets/{p.name}")
        for p in sorted((DIST / "assets").iterdir())
        if p.suffix in (".js", ".css") and f"assets/{p.name}" not in files
    }
    assert any(n.startswith("TerminalPage-") and n.endswith(".js") for n in chunks), chunks
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "chunks.json").write_text(
        json.dumps(
            {
                "first_page_gzip_bytes": total,
                "first_page": {f: gz(f) for f in files},
                "chunks_gzip_bytes": {re.sub(r"-[\w-]{8}\.", ".", k): v for k, v in chunks.items()},
            },
            indent=1,
        )
        + "\n"
    )
