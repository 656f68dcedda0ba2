"""The dashboard (`/ui`, built from ui/ into app/ui/dist) and the API docs (`/docs`).

Everything a page loads comes from this package: the dashboard's build and the copy
of Swagger UI 5 (npm swagger-ui-dist) its build puts under `dist/swagger/`. No CDN,
so both work with no internet, and the dashboard's CSP allows only its own origin.

These are plain Starlette routes, not API operations: they are public (the login
page must load before any credentials exist), carry no `host` parameter and stay out
of the spec. What the pages show comes from the API, with its own checks.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

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


def _page(dist: Path) -> Response:
    index = dist / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT, status_code=503, headers={"Cache-Control": "no-store"})
    return FileResponse(
        index,
        media_type="text/html",
        headers={"Cache-Control": "no-cache", "Content-Security-Policy": UI_CSP},
    )


def install(app: FastAPI, dist: Path = DIST) -> None:
    """`/` → `/ui/`, the dashboard under `/ui/` (any unknown page: the app, which routes
    in the browser), and `/docs` on local Swagger UI assets."""

    async def root(request: Request) -> Response:
        return RedirectResponse("/ui/", status_code=307)

    async def ui(request: Request) -> Response:
        rel = str(request.path_params.get("path", ""))
        found = _file(dist, rel) if rel else None
        if found is None:
            if rel.startswith(("assets/", "swagger/")) or rel == "favicon.svg":
                return Response(status_code=404, headers={"Cache-Control": "no-store"})
            return _page(dist)
        cache = IMMUTABLE if rel.startswith("assets/") else "no-cache"
        return FileResponse(
            found, headers={"Cache-Control": cache, "Content-Security-Policy": UI_CSP}
        )

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
