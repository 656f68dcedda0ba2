"""The audit log on a real PostgreSQL (Debian's `postgresql`), as several replicas use it.

A throwaway cluster is made with `initdb` in a temporary directory and started on a
free loopback port for this module; skipped when PostgreSQL is not installed
(`make postgres` installs it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from fastapi import FastAPI

from app.audit import PostgresAuditStore, Record, open_store
from app.settings import Settings
from tests.conftest import free_port
from tests.test_audit import SECRET, add_change_routes, calls
from tests.test_security import add_test_routes, app_client, bearer, write_tokens


def both_routes(app: FastAPI) -> None:
    add_change_routes(app)
    add_test_routes(app)


def _pg_bin() -> Path | None:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    return None


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (make postgres)")
    base = Path(tempfile.mkdtemp(prefix="moorage-pg-"))
    data = base / "data"
    port = free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "moorage",
         "--no-sync"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-w", "-l",
         str(base / "log"), "start"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    try:
        yield f"postgresql://moorage@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def store(postgres: str) -> AsyncIterator[PostgresAuditStore]:
    s = open_store(postgres)
    assert isinstance(s, PostgresAuditStore)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def _rec(actor: str, action: str, target: str, ts: float) -> Record:
    return Record(
        actor=actor,
        role="admin",
        action=action,
        target=target,
        method="POST",
        path=f"/v1/x/{target}",
        summary={"body": {"image": "app"}},
        source="127.0.0.1",
        ts=ts,
    )


async def test_store_roundtrip_and_filters(store: PostgresAuditStore) -> None:
    now = time.time()
    actor = f"pg-{now}"
    started = _rec(actor, "containers_start", "web-1", now - 10)
    first = started.id = await store.add(started)
    second = await store.add(_rec(actor, "containers_stop", "web-2", now))
    started.judge(200, None)
    await store.finish(started)
    rows = await store.query(actor=actor)
    assert [r.id for r in rows] == [second, first]
    assert rows[1].status == 200
    assert rows[0].status is None
    assert rows[1].summary == {"body": {"image": "app"}}
    assert [r.id for r in await store.query(actor=actor, action="containers_stop")] == [second]
    assert [r.id for r in await store.query(actor=actor, target="web-1")] == [first]
    assert [r.id for r in await store.query(actor=actor, since=now - 1)] == [second]
    assert [r.id for r in await store.query(actor=actor, until=now - 1)] == [first]
    assert [r.id for r in await store.query(actor=actor, before=second)] == [first]
    assert len(await store.query(actor=actor, limit=1)) == 1


async def test_two_replicas_share_one_log(postgres: str, tmp_path: Path) -> None:
    tokens = write_tokens(tmp_path / "tokens.toml")
    settings = Settings(tokens_file=tokens, audit_db=postgres)
    async with (
        app_client(settings, setup=both_routes) as (_, one),
        app_client(settings, setup=both_routes) as (_, two),
    ):
        body = {"name": "pg-web", "auth": {"password": SECRET}}
        r = await one.post("/v1/_t/containers/pg-web/start", json=body, headers=bearer("admin"))
        assert r.status_code == 200
        r = await two.post("/v1/_t/containers/pg-web/stop", json=body, headers=bearer("operator"))
        assert r.status_code == 200
        r = await one.get("/v1/audit", params={"target": "pg-web"}, headers=bearer("admin"))
        rows = r.json()
        assert [(x["action"], x["actor"], x["status"]) for x in rows] == [
            ("containers_stop", "operator-bot", 200),
            ("containers_start", "admin-bot", 200),
        ]
        assert SECRET not in r.text
        # tickets are shared too: issued by one replica, good once on any
        r = await one.post("/v1/auth/tickets", headers=bearer("viewer"), json={})
        ticket = r.json()["ticket"]
        r = await two.get("/v1/_test/a/stream", params={"ticket": ticket})
        assert r.status_code == 200
        r = await one.get("/v1/_test/a/stream", params={"ticket": ticket})
        assert r.status_code == 401
        r = await two.post("/v1/auth/session", headers=bearer("viewer"))
        one.cookies.set("moorage_session", r.cookies["moorage_session"])
        r = await one.post(
            "/v1/auth/tickets", json={}, headers={"X-CSRF-Token": r.json()["csrf_token"]}
        )
        assert r.status_code == 201
        assert r.json()["role"] == "viewer"


async def test_fail_closed_on_postgres(postgres: str, tmp_path: Path) -> None:
    """The table is locked by someone else: the intent write times out, the change is refused."""
    tokens = write_tokens(tmp_path / "tokens.toml")
    settings = Settings(tokens_file=tokens, audit_db=postgres, audit_busy_timeout=0.3)
    async with app_client(settings, setup=add_change_routes) as (_, c):
        blocker = await asyncpg.connect(postgres)
        try:
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute("LOCK TABLE moorage_audit IN ACCESS EXCLUSIVE MODE")
            before = len(calls)
            r = await c.post("/v1/_t/containers/pg-x/start", headers=bearer("admin"), json={})
            assert r.status_code == 503
            assert r.json()["code"] == "audit-unavailable"
            assert len(calls) == before
            await tx.rollback()
        finally:
            await blocker.close()
        r = await c.post("/v1/_t/containers/pg-x/start", headers=bearer("admin"), json={})
        assert r.status_code == 200


async def test_outcomes_on_postgres(store: PostgresAuditStore) -> None:
    from app import errors

    now = time.time()
    actor = f"pg-outcome-{now}"
    refused = _rec(actor, "containers_create", "web-1", now)
    refused.judge(403, errors.PolicyViolation("allow_privileged: no", rule="allow_privileged"))
    refused_id = await store.add(refused)
    started = _rec(actor, "containers_start", "web-1", now)
    started.id = await store.add(started)
    started.judge(204, None)
    await store.finish(started)
    (row,) = await store.query(actor=actor, outcome="refused")
    assert (row.id, row.status, row.outcome) == (refused_id, 403, "refused")
    assert (row.reason, row.rule) == ("policy-violation", "allow_privileged")
    (ok,) = await store.query(actor=actor, outcome="ok")
    assert (ok.id, ok.status, ok.reason, ok.rule) == (started.id, 204, None, None)
