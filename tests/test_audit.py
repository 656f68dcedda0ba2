"""The audit log: a row for every change kind, secrets removed, fail closed, queries.

The change routes are written elsewhere; here each change kind is a stand-in route
with the real operationId (the audit keys on it), so every kind is exercised now;
the same rows come from the real routes once they exist.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Body, FastAPI, Request

from app.settings import Settings
from tests.test_security import app_client, bearer, write_tokens

# (operationId, method, path) — every change kind of the issue
CHANGES: list[tuple[str, str, str]] = [
    ("containers_create", "POST", "/v1/_t/containers"),
    ("containers_run", "POST", "/v1/_t/containers/run"),
    ("containers_start", "POST", "/v1/_t/containers/{id}/start"),
    ("containers_stop", "POST", "/v1/_t/containers/{id}/stop"),
    ("containers_kill", "POST", "/v1/_t/containers/{id}/kill"),
    ("containers_restart", "POST", "/v1/_t/containers/{id}/restart"),
    ("containers_pause", "POST", "/v1/_t/containers/{id}/pause"),
    ("containers_unpause", "POST", "/v1/_t/containers/{id}/unpause"),
    ("containers_delete", "DELETE", "/v1/_t/containers/{id}"),
    ("containers_update", "PATCH", "/v1/_t/containers/{id}"),
    ("containers_exec", "POST", "/v1/_t/containers/{id}/exec"),
    ("containers_prune", "POST", "/v1/_t/containers/prune"),
    ("images_pull", "POST", "/v1/_t/images/pull"),
    ("images_build", "POST", "/v1/_t/images/build"),
    ("images_push", "POST", "/v1/_t/images/push"),
    ("images_tag", "POST", "/v1/_t/images/{ref}/tag"),
    ("images_delete", "DELETE", "/v1/_t/images/{ref}"),
    ("images_prune", "POST", "/v1/_t/images/prune"),
    ("images_load", "POST", "/v1/_t/images/load"),
    ("volumes_create", "POST", "/v1/_t/volumes"),
    ("volumes_delete", "DELETE", "/v1/_t/volumes/{name}"),
    ("volumes_prune", "POST", "/v1/_t/volumes/prune"),
    ("networks_create", "POST", "/v1/_t/networks"),
    ("networks_delete", "DELETE", "/v1/_t/networks/{id}"),
    ("networks_connect", "POST", "/v1/_t/networks/{id}/connect"),
    ("networks_disconnect", "POST", "/v1/_t/networks/{id}/disconnect"),
    ("networks_prune", "POST", "/v1/_t/networks/prune"),
]
SECRET = "hunter2-Pa55word"

calls: list[str] = []


def add_change_routes(app: FastAPI) -> None:
    for op, method, path in CHANGES:

        async def handler(
            request: Request, body: dict[str, Any] | None = Body(default=None), _op: str = op
        ) -> dict[str, str]:
            calls.append(_op)
            return {"done": _op}

        app.add_api_route(path, handler, methods=[method], name=op)

    async def containers_archive_put(id: str, request: Request) -> dict[str, int]:
        """A streamed upload: the handler reads the stream; the audit must not buffer it."""
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        calls.append("containers_archive_put")
        return {"size": size}

    app.add_api_route("/v1/_t/containers/{id}/archive", containers_archive_put, methods=["PUT"])


def _url(path: str) -> str:
    return path.replace("{id}", "web-1").replace("{ref}", "app:1").replace("{name}", "vol-1")


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tokens(tmp_path_factory.mktemp("audit") / "tokens.toml")


@pytest.fixture(scope="module")
async def audited(
    tokens: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    db = tmp_path_factory.mktemp("audit-db") / "audit.sqlite3"
    settings = Settings(tokens_file=tokens, audit_db=str(db))
    async with app_client(settings, setup=add_change_routes) as (_, c):
        yield c


async def _rows(c: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await c.get("/v1/audit", params=params, headers=bearer("admin"))
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


@pytest.mark.parametrize(("op", "method", "path"), CHANGES, ids=[c[0] for c in CHANGES])
async def test_every_change_kind_is_audited(
    audited: httpx.AsyncClient, op: str, method: str, path: str
) -> None:
    body = {
        "name": "web-1",
        "auth": {"username": "me", "password": SECRET},
        "environment": [f"DB_PASSWORD={SECRET}", "MODE=prod"],
    }
    r = await audited.request(method, _url(path), json=body, headers=bearer("admin"))
    assert r.status_code == 200, r.text
    (row,) = await _rows(audited, action=op, limit=1)
    assert row["actor"] == "admin-bot"
    assert row["role"] == "admin"
    assert row["action"] == op
    assert row["method"] == method
    assert row["path"] == _url(path)
    assert row["status"] == 200
    assert row["source"] == "127.0.0.1"
    assert row["target"] in ("web-1", "app:1", "vol-1")
    assert row["time"].endswith("Z")
    assert SECRET not in str(row)
    assert row["summary"]["body"]["auth"] == "***"
    assert "MODE=prod" in row["summary"]["body"]["environment"]


async def test_streamed_upload_is_summarised_by_size(audited: httpx.AsyncClient) -> None:
    data = b"x" * 100_000
    r = await audited.put(
        "/v1/_t/containers/web-1/archive?path=/tmp",
        content=data,
        headers={**bearer("admin"), "Content-Type": "application/x-tar"},
    )
    assert r.status_code == 200
    assert r.json() == {"size": 100_000}
    (row,) = await _rows(audited, action="containers_archive_put", limit=1)
    assert row["summary"]["body_bytes"] == 100_000
    assert row["summary"]["query"] == {"path": "/tmp"}
    assert row["status"] == 200


async def test_refused_change_is_audited(audited: httpx.AsyncClient) -> None:
    before = len(calls)
    r = await audited.post("/v1/_t/containers", json={"image": "x"}, headers=bearer("viewer"))
    assert r.status_code == 403
    assert len(calls) == before
    (row,) = await _rows(audited, action="containers_create", actor="viewer-bot", limit=1)
    assert row["status"] == 403
    assert row["role"] == "viewer"


async def test_reads_are_not_audited(audited: httpx.AsyncClient) -> None:
    await audited.get("/v1/audit", headers=bearer("admin"))
    assert await _rows(audited, action="audit_list") == []


async def test_filters_and_pages(audited: httpx.AsyncClient) -> None:
    start = time.time()
    for _ in range(5):
        r = await audited.post(
            "/v1/_t/containers/page-me/start", headers=bearer("operator"), json={}
        )
        assert r.status_code == 200
    rows = await _rows(audited, actor="operator-bot", target="page-me", since=start)
    assert len(rows) == 5
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    r = await audited.get(
        "/v1/audit",
        params={"actor": "operator-bot", "target": "page-me", "limit": 2},
        headers=bearer("admin"),
    )
    assert len(r.json()) == 2
    assert 'rel="next"' in r.headers["link"]
    nxt = r.headers["link"].split(">", 1)[0].lstrip("<")
    r2 = await audited.get(nxt, headers=bearer("admin"))
    assert [x["id"] for x in r2.json()] == [x["id"] for x in rows[2:4]]
    assert await _rows(audited, actor="operator-bot", until=start - 3600) == []
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start - 1))
    assert len(await _rows(audited, actor="operator-bot", target="page-me", since=iso)) == 5
    r = await audited.get("/v1/audit", params={"since": "yesterday"}, headers=bearer("admin"))
    assert r.status_code == 422


async def test_fail_closed_refuses_the_change(tokens: Path, tmp_path: Path) -> None:
    """Another holder of the database lock: the intent cannot be written."""
    db = tmp_path / "audit.sqlite3"
    settings = Settings(tokens_file=tokens, audit_db=str(db), audit_busy_timeout=0.05)
    async with app_client(settings, setup=add_change_routes) as (_, c):
        blocker = sqlite3.connect(db, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            before = len(calls)
            r = await c.post("/v1/_t/containers/web-1/start", headers=bearer("admin"), json={})
            assert r.status_code == 503
            assert r.json()["code"] == "audit-unavailable"
            assert len(calls) == before, "the route ran although its audit row was not written"
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        r = await c.post("/v1/_t/containers/web-1/start", headers=bearer("admin"), json={})
        assert r.status_code == 200


async def test_fail_open_when_configured(tokens: Path, tmp_path: Path) -> None:
    db = tmp_path / "audit.sqlite3"
    settings = Settings(
        tokens_file=tokens, audit_db=str(db), audit_busy_timeout=0.05, audit_fail_closed=False
    )
    async with app_client(settings, setup=add_change_routes) as (_, c):
        blocker = sqlite3.connect(db, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            before = len(calls)
            r = await c.post("/v1/_t/containers/web-1/start", headers=bearer("admin"), json={})
            assert r.status_code == 200
            assert len(calls) == before + 1
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
