"""app/ui.py: `/` → `/ui/`, the dashboard's files (never one outside its build), the
page for any path the browser routes, `/docs` on local Swagger UI assets; and
GET /v1/auth/whoami, which the dashboard reads to know who it shows."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app import ui
from app.settings import Settings
from tests.conftest import in_process
from tests.test_security import bearer, write_tokens


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    d = tmp_path / "dist"
    (d / "assets").mkdir(parents=True)
    (d / "index.html").write_text("<!doctype html><title>moorage</title>")
    (d / "assets" / "app-123.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("outside the build")
    return d


def pages(dist: Path) -> httpx.AsyncClient:
    app = FastAPI(docs_url=None, redoc_url=None)  # as create_app makes it
    ui.install(app, dist)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_root_and_ui_redirect_to_the_dashboard(dist: Path) -> None:
    async with pages(dist) as c:
        for path in ("/", "/ui"):
            r = await c.get(path)
            assert r.status_code == 307
            assert r.headers["location"] == "/ui/"


async def test_files_and_the_page_for_browser_routes(dist: Path) -> None:
    async with pages(dist) as c:
        page = await c.get("/ui/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "connect-src 'self'" in csp
        asset = await c.get("/ui/assets/app-123.js")
        assert asset.text == "console.log(1)"
        assert "immutable" in asset.headers["cache-control"]
        # A page the browser routes (a container, the logs) gets the app.
        routed = await c.get("/ui/containers/web-1?host=edge")
        assert routed.status_code == 200
        assert routed.text == page.text
        # A missing asset is a 404, not the page (a stale cached index must fail loudly).
        assert (await c.get("/ui/assets/gone-1.js")).status_code == 404


async def test_files_gzipped_once_and_revalidated(dist: Path) -> None:
    script = "console.log('moorage');\n" * 200
    (dist / "assets" / "big-1.js").write_text(script)
    async with pages(dist) as c:
        plain = await c.get("/ui/assets/big-1.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.text == script
        packed = await c.get("/ui/assets/big-1.js", headers={"Accept-Encoding": "gzip, br"})
        assert packed.headers["content-encoding"] == "gzip"
        assert int(packed.headers["content-length"]) < len(script)
        assert packed.text == script  # httpx undoes the gzip
        assert packed.headers["vary"] == "Accept-Encoding"
        refused = await c.get("/ui/assets/big-1.js", headers={"Accept-Encoding": "gzip;q=0"})
        assert "content-encoding" not in refused.headers
        # The page is revalidated (no-cache): an unchanged one is a bodiless 304.
        page = await c.get("/ui/logs")
        etag = page.headers["etag"]
        again = await c.get("/ui/logs", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["content-security-policy"] == page.headers["content-security-policy"]
        # A rebuild under a running server (make ui): the new page, with a new tag.
        (dist / "index.html").write_text("<!doctype html><title>moorage, rebuilt</title>")
        rebuilt = await c.get("/ui/logs", headers={"If-None-Match": etag})
        assert rebuilt.status_code == 200
        assert "rebuilt" in rebuilt.text
        assert rebuilt.headers["etag"] != etag


@pytest.mark.parametrize(
    "path", ["/ui/../secret.txt", "/ui/..%2fsecret.txt", "/ui/%2e%2e/secret.txt", "/ui//etc/passwd"]
)
async def test_nothing_outside_the_build_is_served(dist: Path, path: str) -> None:
    async with pages(dist) as c:
        r = await c.get(path)
        assert "outside the build" not in r.text
        assert "root:" not in r.text


async def test_not_built_says_how(tmp_path: Path) -> None:
    async with pages(tmp_path / "none") as c:
        r = await c.get("/ui/")
        assert r.status_code == 503
        assert "make run" in r.text


async def test_docs_load_nothing_from_elsewhere(dist: Path) -> None:
    async with pages(dist) as c:
        html = (await c.get("/docs")).text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", html) + re.findall(r"url: '([^']+)'", html)
    assert "/ui/swagger/swagger-ui-bundle.js" in urls
    assert "/ui/swagger/swagger-ui.css" in urls
    assert "/ui/favicon.svg" in urls
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls


@pytest.fixture(scope="module")
async def secure(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    tokens = write_tokens(tmp_path_factory.mktemp("tokens") / "tokens.toml")
    async with in_process(Settings(tokens_file=tokens, audit_db=":memory:")) as (_, c):
        yield c


async def test_the_app_serves_the_pages_without_credentials(secure: httpx.AsyncClient) -> None:
    # The sign-in page must load before any credentials exist.
    assert (await secure.get("/")).status_code == 307
    assert (await secure.get("/ui/")).status_code in (200, 503)  # 503: not built here
    assert (await secure.get("/docs")).status_code == 200
    assert (await secure.get("/redoc")).status_code == 404  # it would load from a CDN


async def test_whoami_with_a_token_and_a_session(secure: httpx.AsyncClient) -> None:
    assert (await secure.get("/v1/auth/whoami")).status_code == 401
    r = await secure.get("/v1/auth/whoami", headers=bearer("operator"))
    assert r.json() == {
        "name": "operator-bot",
        "role": "operator",
        "via": "token",
        "auth_required": True,
        "csrf_token": None,
    }
    opened = await secure.post("/v1/auth/session", headers=bearer("viewer"))
    assert opened.status_code == 201
    me = await secure.get("/v1/auth/whoami")  # the cookie alone, as a reloaded page asks
    assert me.status_code == 200
    assert me.json()["role"] == "viewer"
    assert me.json()["via"] == "session"
    assert me.json()["csrf_token"] == opened.json()["csrf_token"]
    await secure.delete("/v1/auth/session", headers={"X-CSRF-Token": opened.json()["csrf_token"]})
    secure.cookies.clear()


async def test_whoami_on_loopback_without_tokens() -> None:
    async with in_process(Settings(audit_db=":memory:")) as (_, c):
        r = await c.get("/v1/auth/whoami")
    assert r.status_code == 200
    assert r.json()["via"] == "loopback"
    assert r.json()["auth_required"] is False
