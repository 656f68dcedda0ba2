"""The audit log: a row for every change kind, secrets removed, fail closed, queries.

The change routes are written elsewhere; here each change kind is a stand-in route
with the real operationId (the audit keys on it), so every kind is exercised now;
the same rows come from the real routes once they exist.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
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


@contextmanager
def locked(db: Path) -> Iterator[None]:
    """Another holder of the database's write lock (an exclusive transaction) meanwhile."""
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


async def test_fail_closed_refuses_the_change(tokens: Path, tmp_path: Path) -> None:
    """Another holder of the database lock: the intent cannot be written."""
    db = tmp_path / "audit.sqlite3"
    settings = Settings(tokens_file=tokens, audit_db=str(db), audit_busy_timeout=0.05)
    async with app_client(settings, setup=add_change_routes) as (_, c):
        with locked(db):
            before = len(calls)
            r = await c.post("/v1/_t/containers/web-1/start", headers=bearer("admin"), json={})
            assert r.status_code == 503
            assert r.json()["code"] == "audit-unavailable"
            assert len(calls) == before, "the route ran although its audit row was not written"
        r = await c.post("/v1/_t/containers/web-1/start", headers=bearer("admin"), json={})
        assert r.status_code == 200


async def test_fail_open_when_configured(tokens: Path, tmp_path: Path) -> None:
    db = tmp_path / "audit.sqlite3"
    settings = Settings(
        tokens_file=tokens, audit_db=str(db), audit_busy_timeout=0.05, audit_fail_closed=False
    )
    async with app_client(settings, setup=add_change_routes) as (_, c):
        with locked(db):
            before = len(calls)
            r = await c.post("/v1/_t/containers/web-1/start", headers=bearer("admin"), json={})
            assert r.status_code == 200
            assert len(calls) == before + 1


# -- secrets by value, refusals -------------------------------------------------------

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7pem-body\n-----END RSA PRIVATE KEY-----"
# (what is sent, the secret part that must not be stored, what must remain)
BY_VALUE: list[tuple[str, str, str]] = [
    ("DATABASE_URL=postgres://app:db-pw-1@db:5432/app", "db-pw-1", "postgres://app:***@db"),
    ("REPO=https://ghp_0123456789abcdefghijABCDEFGHIJ@github.com/o/r", "ghp_0123", "github.com"),
    ("GITHUB=ghp_0123456789abcdefghijABCDEFGHIJ", "ghp_0123456789", "GITHUB="),
    ("FINE=github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_11", "FINE="),
    ("GL=glpat-abcdefghij0123456789", "glpat-abc", "GL="),
    ("SLACK_HOOK=xoxb-1234567890-abcdefghij", "xoxb-123", "SLACK_HOOK="),
    ("AWS_ID=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "AWS_ID="),
    ("JWT=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig-part", "eyJhbGciOiJIUzI1NiJ9", "JWT="),
    (f"PRIVATE_KEY={PEM}", "7pem-body", "PRIVATE_KEY="),
    (f"CERT_BLOB={PEM}", "7pem-body", "CERT_BLOB="),
    ("HDR=Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop", "Bearer ***"),
]
COMMAND = ["mysql", "--password=cmd-pw-1", "--token", "cmd-pw-2", "-p", "cmd-pw-3", "-pcmd-pw-4"]
COMMAND_SECRETS = ["cmd-pw-1", "cmd-pw-2", "cmd-pw-3", "cmd-pw-4"]


async def test_secrets_are_redacted_by_value(audited: httpx.AsyncClient) -> None:
    body = {
        "name": "web-1",
        "environment": [sent for sent, _, _ in BY_VALUE],
        "command": COMMAND,
        "healthcheck": {"test": "mysqladmin ping --password=hc-pw-1 -phc-pw-2"},
        "buildargs": {"NPM_TOKEN": "ba-pw-1", "VERSION": "ba-pw-2"},
    }
    r = await audited.post("/v1/_t/containers", json=body, headers=bearer("admin"))
    assert r.status_code == 200, r.text
    (row,) = await _rows(audited, action="containers_create", limit=1)
    stored = str(row)
    for _, secret, kept in BY_VALUE:
        assert secret not in stored
        assert kept in stored
    for secret in (*COMMAND_SECRETS, "hc-pw-1", "hc-pw-2", "ba-pw-1", "ba-pw-2"):
        assert secret not in stored
    summary = row["summary"]["body"]
    assert summary["command"][:2] == ["mysql", "--password=***"]
    assert summary["buildargs"] == {"NPM_TOKEN": "***", "VERSION": "***"}


async def test_build_args_in_the_query_are_redacted(audited: httpx.AsyncClient) -> None:
    args = '{"NPM_TOKEN": "q-pw-1", "PIP_INDEX_URL": "https://u:q-pw-2@pypi.example/simple"}'
    r = await audited.post(
        "/v1/_t/images/build",
        params={"buildargs": args, "tag": "app:1", "remote": "https://u:q-pw-3@git.example/r"},
        headers=bearer("admin"),
    )
    assert r.status_code == 200, r.text
    (row,) = await _rows(audited, action="images_build", limit=1)
    for secret in ("q-pw-1", "q-pw-2", "q-pw-3"):
        assert secret not in str(row)
    assert "NPM_TOKEN" in row["summary"]["query"]["buildargs"]
    assert row["summary"]["query"]["tag"] == "app:1"


async def test_refusals_are_audited_with_outcome_and_reason(tokens: Path, tmp_path: Path) -> None:
    settings = Settings(tokens_file=tokens, audit_db=str(tmp_path / "audit.sqlite3"))
    async with app_client(settings, setup=add_change_routes) as (_, c):
        before = len(calls)
        path = "/v1/_t/containers/web-1/stop"
        assert (await c.post(path, json={})).status_code == 401
        bad = {"Authorization": "Bearer mrg_guessed-0000000000000000000000000"}
        assert (await c.post(path, json={}, headers=bad)).status_code == 401
        assert (await c.post(path, json={}, headers=bearer("viewer"))).status_code == 403
        # A session without its CSRF header.
        r = await c.post("/v1/auth/session", headers=bearer("operator"))
        assert r.status_code == 201
        r = await c.post(path, json={})
        assert r.status_code == 403
        c.cookies.clear()
        assert len(calls) == before  # nothing ran
        assert (await c.post(path, json={}, headers=bearer("operator"))).status_code == 200
        refused = await _rows(c, outcome="refused")
        assert [(x["actor"], x["status"], x["reason"]) for x in refused] == [
            ("operator-bot", 403, "csrf"),
            ("viewer-bot", 403, "forbidden"),
            ("unauthenticated", 401, "unauthorized"),
            ("unauthenticated", 401, "unauthorized"),
        ]
        assert all(x["action"] == "containers_stop" and x["target"] == "web-1" for x in refused)
        assert "mrg_guessed" not in str(refused)
        ok = await _rows(c, outcome="ok", action="containers_stop")
        assert [(x["actor"], x["status"], x["reason"]) for x in ok] == [("operator-bot", 200, None)]
        r = await c.get("/v1/audit", params={"outcome": "maybe"}, headers=bearer("admin"))
        assert r.status_code == 422


def test_an_old_log_gets_the_outcome_columns(tmp_path: Path) -> None:
    """A log made before outcomes were recorded opens, keeps its rows, and gains them."""
    import asyncio

    from app.audit import AuditStore

    db = tmp_path / "old.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL,"
            " actor TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL,"
            " target TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,"
            " summary TEXT NOT NULL, status INTEGER, source TEXT);"
            "INSERT INTO audit (ts, actor, role, action, target, method, path, summary, status)"
            " VALUES (1, 'a', 'admin', 'containers_stop', 'w', 'POST', '/x', '{}', 200);"
        )

    async def read() -> list[Any]:
        store = AuditStore(str(db))
        await store.open()
        try:
            return list(await store.query())
        finally:
            await store.close()

    (row,) = asyncio.run(read())
    assert (row.actor, row.status, row.outcome) == ("a", 200, None)


@pytest.mark.engine
async def test_a_policy_refusal_is_audited_with_its_rule(tokens: Path, tmp_path: Path) -> None:
    """The real create route, a privileged container: 403 policy-violation, nothing made,
    and the row says which rule refused it."""
    from tests.conftest import TEST_IMAGE, exists, test_labels

    policy = tmp_path / "policy.toml"
    policy.write_text("allow_privileged = false\n")
    settings = Settings(
        tokens_file=tokens, policy_file=policy, audit_db=str(tmp_path / "audit.sqlite3")
    )
    name = f"mt-audit-policy-{int(time.time() * 1000) % 10**8}"
    spec = {
        "image": TEST_IMAGE,
        "name": name,
        "command": ["true"],
        "security": {"privileged": True},
        "labels": test_labels(),
        "environment": ["DATABASE_URL=postgres://u:pol-pw@db/x"],
    }
    async with app_client(settings) as (_, c):
        r = await c.post("/v1/containers", json=spec, headers=bearer("admin"))
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "policy-violation"
        (row,) = await _rows(c, outcome="refused", action="containers_create")
    assert not exists("container", name)
    assert row["status"] == 403
    assert (row["reason"], row["rule"]) == ("policy-violation", "allow_privileged")
    assert row["actor"] == "admin-bot"
    assert row["target"] == name
    assert "pol-pw" not in str(row)


# Rounds of writes with the store closed in the middle of them (a shutdown), in a child
# process: the race this guards against crashed the interpreter (SIGSEGV), not a test.
_CLOSE_DURING_WRITES = """
import asyncio, json, sqlite3, sys
from app.audit import AuditStore, Record

async def main() -> None:
    store = AuditStore(sys.argv[1])
    summary = {"blob": "x" * 200_000}  # long statements: close() comes mid-write
    ids, refused = [], []

    async def write(i):
        rec = Record("a", "admin", "containers_stop", f"c{i}", "POST", "/x", summary, None)
        try:
            ids.append(await store.add(rec))
        except sqlite3.OperationalError as e:
            refused.append(str(e))

    for r in range(100):
        await store.open()
        writes = [asyncio.create_task(write(i)) for i in range(12)]
        await asyncio.sleep(0)  # the writes are in their threads
        await asyncio.sleep(0.001 * (r % 10))
        await store.close()
        await asyncio.gather(*writes)
    print(json.dumps({"ids": ids, "refused": refused}))

asyncio.run(main())
"""


def test_close_during_writes_waits_for_the_write_in_flight(tmp_path: Path) -> None:
    """Writes still running when the store closes: each one lands in the file whole or
    is refused as "not open"; none meets a connection closed under it."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    db = tmp_path / "closing.sqlite3"
    proc = subprocess.run(
        [sys.executable, "-c", _CLOSE_DURING_WRITES, str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    out = json.loads(proc.stdout)
    assert set(out["refused"]) <= {"the audit store is not open"}, out["refused"][:5]
    assert out["ids"], "no write landed before a close"
    with sqlite3.connect(db) as conn:
        written = {row[0] for row in conn.execute("SELECT id FROM audit")}
    assert written == set(out["ids"])
