"""The dashboard (`/ui`, built from ui/ into app/ui/dist) and the API docs (`/docs`).

Everything a page loads comes from this package: the dashboard's build and the copy
of Swagger UI 5 (npm swagger-ui-dist) its build puts under `dist/swagger/`. No CDN,
so both work with no internet, and the dashboard's CSP allows only its own origin.

These are plain Starlette routes, not API operations: they are public (the login
page must load before any credentials exist), carry no `host` parameter and stay out
of the spec. What the pages show comes from the API, with its own checks.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import mimetypes
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Message

DIST = Path(str(importlib.resources.files("app"))) / "ui" / "dist"

# Only moorage itself: scripts, styles, fetches and streams (the page has no inline
# script; Preact sets styles through the CSSOM, which style-src does not govern).
UI_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Hashed file names under assets/ never change content; everything else may.
IMMUTABLE = "public, max-age=31536000, immutable"

NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>moorage: dashboard not built</title></head><body>
<h1>The dashboard is not built</h1>
<p>Run <code>make run</code> (it builds ui/ when missing or stale) or
<code>make ui</code>. The API answers at <a href="/v1/containers">/v1</a>.</p>
</body></html>"""


def _file(dist: Path, rel: str) -> Path | None:
    """The file at `rel` inside `dist`, never outside it (no `..`, no symlink out)."""
    try:
        path = (dist / rel).resolve()
        root = dist.resolve()
    except (OSError, ValueError):
        return None
    if path != root and root not in path.parents:
        return None
    return path if path.is_file() else None


# Worth compressing: the build's text. Fonts and images are compressed already.
_TEXT = (".html", ".js", ".css", ".svg", ".json", ".map", ".txt")


@dataclass(frozen=True)
class _Loaded:
    """One file of the build as it is served: its bytes, gzipped once when that is
    smaller, and its ETag; `stamp` tells a rebuilt file (`make ui` under a running
    server) from the one held."""

    stamp: tuple[int, int]  # (st_mtime_ns, st_size)
    body: bytes
    gzipped: bytes | None
    etag: str
    media_type: str


def _load(path: Path) -> _Loaded:
    st = path.stat()
    body = path.read_bytes()
    packed = gzip.compress(body, 6, mtime=0) if path.suffix in _TEXT else None
    return _Loaded(
        stamp=(st.st_mtime_ns, st.st_size),
        body=body,
        gzipped=packed if packed is not None and len(packed) < len(body) else None,
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
    )


def _accepts_gzip(request: Request) -> bool:
    """Accept-Encoding names gzip (or `*`) with a weight above zero."""
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.partition(";")
        if coding.strip().lower() not in ("gzip", "*"):
            continue
        weight = params.strip().lower().removeprefix("q=")
        try:
            return float(weight or 1) > 0
        except ValueError:
            return False
    return False


class _Build:
    """The build's files, each read and gzipped once, then answered from memory.

    A page load is its HTML and two assets before the script can start, and a fresh
    one (no cache) waits on each: from memory, with no file opened and no thread hop
    per read, and gzipped for a client across a network. About 100 KB for the first
    page; xterm.js's chunk and Swagger UI (2 MB) only once they are asked for."""

    def __init__(self) -> None:
        self._held: dict[Path, _Loaded] = {}

    async def get(self, path: Path) -> _Loaded:
        held = self._held.get(path)
        if held is not None:
            # One stat of a cached inode, as `_file` makes: microseconds, not worth a
            # thread hop (the read itself, on a miss, goes to a thread).
            st = path.stat()  # noqa: ASYNC240
            if (st.st_mtime_ns, st.st_size) == held.stamp:
                return held
        loaded = await anyio.to_thread.run_sync(_load, path)
        self._held[path] = loaded
        return loaded


async def _serve(build: _Build, request: Request, path: Path, headers: dict[str, str]) -> Response:
    try:
        f = await build.get(path)
    except OSError:  # removed by a rebuild since it was found
        return Response(status_code=404, headers={"Cache-Control": "no-store"})
    headers = {**headers, "ETag": f.etag, "Vary": "Accept-Encoding"}
    if f.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = f.body
    if f.gzipped is not None and _accepts_gzip(request):
        body = f.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=f.media_type, headers=headers)


async def _page(build: _Build, request: Request, dist: Path) -> Response:
    index = dist / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT, status_code=503, headers={"Cache-Control": "no-store"})
    page_headers = {"Cache-Control": "no-cache", "Content-Security-Policy": UI_CSP}
    return await _serve(build, request, index, page_headers)


def install(app: FastAPI, dist: Path = DIST) -> None:
    """`/` → `/ui/`, the dashboard under `/ui/` (any unknown page: the app, which routes
    in the browser), and `/docs` on local Swagger UI assets."""

    async def root(request: Request) -> Response:
        return RedirectResponse("/ui/", status_code=307)

    build = _Build()

    async def ui(request: Request) -> Response:
        rel = str(request.path_params.get("path", ""))
        found = _file(dist, rel) if rel else None
        if found is None:
            if rel.startswith(("assets/", "swagger/")) or rel == "favicon.svg":
                return Response(status_code=404, headers={"Cache-Control": "no-store"})
            return await _page(build, request, dist)
        cache = IMMUTABLE if rel.startswith("assets/") else "no-cache"
        headers = {"Cache-Control": cache, "Content-Security-Policy": UI_CSP}
        return await _serve(build, request, found, headers)

    async def docs(request: Request) -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/ui/swagger/swagger-ui-bundle.js",
            swagger_css_url="/ui/swagger/swagger-ui.css",
            swagger_favicon_url="/ui/favicon.svg",
            # No badge fetched from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    app.add_route("/", root, include_in_schema=False)
    app.add_route("/ui", root, include_in_schema=False)
    app.add_route("/ui/{path:path}", ui, include_in_schema=False)
    app.add_route("/docs", docs, include_in_schema=False)


async def warm(app: FastAPI) -> None:
    """Route one request for the dashboard's page through the router, at start-up.

    FastAPI builds an included router's routes (their parameter fields, ~100 routes)
    the first time a request is matched against them, and `/ui` comes after all of
    them: the first visitor after a start waited 150-250 ms for that build before
    the page's HTML left. Done here, the build happens before the server is ready,
    and the page is in memory. Straight to the router: no middleware, so nothing is
    counted or audited."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/ui/",
        "raw_path": b"/ui/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"accept-encoding", b"gzip")],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
        "app": app,
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass  # the answer is not wanted, only what making it builds

    await app.router(scope, receive, send)
