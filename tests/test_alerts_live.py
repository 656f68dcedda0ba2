"""Alerts end to end: a real moorage process (killed with SIGKILL mid-delivery), the
SSE stream, engine connections counted, a host going down (a private engine), and
two replicas on one PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.main import create_app
from tests.alert_receiver import Receiver
from tests.conftest import TEST_IMAGE, LiveServer, in_process
from tests.engine_harness import PrivateEngine, private_engine, wait_for
from tests.sse import events, held_sockets, run_container
from tests.test_alerts import SECRET, alert_settings, create, receiver, rule
from tests.test_audit_postgres import postgres

__all__ = ["postgres", "private_engine", "receiver"]

pytestmark = pytest.mark.engine


DOWN_FOR = 30.0  # how long the receiver is down in the crash test (s)


def server_env(receiver: Receiver, db: Path) -> dict[str, str]:
    return {
        "MOORAGE_AUDIT_DB": str(db),
        "MOORAGE_WEBHOOK_ALLOW": json.dumps([receiver.url + "/"]),
        "MOORAGE_WEBHOOK_TIMEOUT": "2",
        "MOORAGE_WEBHOOK_BACKOFF_BASE": "0.2",
        "MOORAGE_WEBHOOK_BACKOFF_MAX": "1",
    }


def again(server: LiveServer, env: dict[str, str]) -> LiveServer:
    """A new process on the same port and database, as after a crash."""
    new = LiveServer(env)
    new.port, new.url, new.log = server.port, server.url, server.log
    return new.start(wait_ready=True)


def sigkill(server: LiveServer) -> None:
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)


async def api_create(url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        return await create(c, body)


@pytest.mark.slow
async def test_sigkill_before_the_receiver_answers_loses_nothing(receiver, name, tmp_path):
    env = server_env(receiver, tmp_path / "moorage.sqlite3")
    server = LiveServer(env).start(wait_ready=True)
    try:
        await api_create(server.url, rule(receiver, {"kind": "event", "action": ["die"]}, name))
        receiver.mode = "hang"  # takes the delivery and never answers
        run_container(name, "exit 3")
        first = (await receiver.wait_for(lambda g: len(g) >= 1))[0]
        sigkill(server)  # the try is under way: the outbox row is leased, not done
        receiver.mode = "ok"
        receiver.release.set()
        server = await asyncio.to_thread(again, server, env)
        got = await receiver.wait_for(lambda g: len(g) >= 2, timeout=60)
        assert got[1].delivery == first.delivery  # the same delivery, tried again
        assert got[1].body == first.body
        assert got[1].signed_with(SECRET)
        assert "exit code 3" in got[1].json()["reason"]
    finally:
        server.stop()


@pytest.mark.slow
async def test_receiver_down_and_a_sigkill_between_every_alert_arrives(receiver, name, tmp_path):
    env = server_env(receiver, tmp_path / "moorage.sqlite3")
    server = LiveServer(env).start(wait_ready=True)
    try:
        made = await api_create(
            server.url, rule(receiver, {"kind": "event", "action": ["die"]}, f"{name}-*")
        )
        await receiver.stop()  # down: nothing listens on its port
        down_since = time.monotonic()
        for i in range(5):
            run_container(f"{name}-{i}", f"exit {i + 1}")
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:

            async def failing() -> bool:
                r = await c.get("/v1/alerts/deliveries", params={"rule_id": made["id"]})
                rows = r.json()
                return len(rows) == 5 and all(d["attempts"] for d in rows)

            for _ in range(300):
                if await failing():
                    break
                await asyncio.sleep(0.1)
            rows = (await c.get("/v1/alerts/deliveries", params={"rule_id": made["id"]})).json()
        ids = {d["id"] for d in rows}
        assert len(ids) == 5
        assert all(
            a["status"] == "failed" and a["code"] is None for d in rows for a in d["attempts"]
        )
        sigkill(server)
        server = await asyncio.to_thread(again, server, env)
        # The outage: the receiver stays down 30 s in all, the restarted moorage
        # trying (and failing) all along; the tries are kept, none is given up.
        await asyncio.sleep(max(0.0, DOWN_FOR - (time.monotonic() - down_since)))
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            rows = (await c.get("/v1/alerts/deliveries", params={"rule_id": made["id"]})).json()
        assert {d["id"] for d in rows} == ids
        # Tried all along the outage (backoff capped at 1 s here), still pending.
        assert all(d["status"] == "pending" and d["tries"] >= 10 for d in rows), rows
        await receiver.start()  # back, on the same port
        got = await receiver.wait_for(lambda g: {r.delivery for r in g} >= ids, timeout=60)
        assert {r.delivery for r in got} == ids  # each once or more, none missing
        assert all(r.signed_with(SECRET) for r in got)
    finally:
        server.stop()


async def test_alert_stream_live_and_resumed(receiver, name, tmp_path):
    env = server_env(receiver, tmp_path / "moorage.sqlite3")
    server = LiveServer(env).start(wait_ready=True)
    try:
        made = await api_create(server.url, rule(receiver, {"kind": "health"}, name))
        url = f"{server.url}/v1/alerts/stream"
        test = f"{server.url}/v1/alerts/rules/{made['id']}/test"
        async with httpx.AsyncClient(timeout=30) as c:
            async with c.stream("GET", url) as r, c.stream("GET", url) as r2:
                assert r.status_code == 200
                assert r.headers["content-type"].startswith("text/event-stream")
                await c.post(test)
                seen = []
                for resp in (r, r2):  # both clients get it, pushed (no poll per client)
                    async for ev in events(resp):
                        assert ev.event == "alert"
                        seen.append(ev)
                        break
            first = seen[0]
            assert seen[1].id == first.id
            assert first.json["rule_id"] == made["id"]
            assert first.json["reason"].startswith("test delivery")
            later = [(await c.post(test)).json()["id"] for _ in range(2)]
            headers = {"Last-Event-ID": str(first.id)}
            async with c.stream("GET", url, headers=headers) as r:
                resumed = []
                async for ev in events(r):
                    resumed.append(ev.json["id"])
                    if len(resumed) == 2:
                        break
            assert resumed == later  # after the first, in order, not it again
            bad = await c.get(url, params={"last_event_id": "yesterday"})
            assert bad.status_code == 422
    finally:
        server.stop()


def hubs_open(url: str, kind: str) -> int:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    m = re.search(rf'^moorage_stream_hubs_open{{kind="{kind}"}} (\S+)$', text, re.M)
    return int(float(m.group(1))) if m else 0


def held(pid: int, url: str, n: int) -> bool:
    """The process settles at `n` engine connections in use (brief reads come and go)."""
    return wait_for(lambda: held_sockets(pid, url) == n, timeout=30)


@pytest.mark.slow
async def test_log_rules_share_one_engine_connection(receiver, name, tmp_path):
    env = server_env(receiver, tmp_path / "moorage.sqlite3")
    server = LiveServer(env).start(wait_ready=True)
    try:
        assert server.proc is not None
        pid = server.proc.pid
        run_container(name, "while :; do echo tick; sleep 1; done")
        before = held_sockets(pid, server.url)
        body = rule(receiver, {"kind": "log", "pattern": "^never matches$"}, name)
        await api_create(server.url, body)
        assert await asyncio.to_thread(wait_for, lambda: hubs_open(server.url, "logs") == 1)
        # The hub holds one connection for its follow; the reads around its start
        # (the rule's container lookup, a state re-read) are brief, so wait them out.
        assert await asyncio.to_thread(held, pid, server.url, before + 1)  # the follow
        one = before + 1
        for _ in range(4):
            await api_create(server.url, body)
        stats = rule(receiver, {"kind": "stats", "metric": "cpu_percent", "above": 99}, name)
        await api_create(server.url, stats)
        assert await asyncio.to_thread(wait_for, lambda: hubs_open(server.url, "stats") == 1)
        assert await asyncio.to_thread(held, pid, server.url, one + 1)  # five log rules: one follow
        async with (
            httpx.AsyncClient(timeout=30) as c,
            c.stream("GET", f"{server.url}/v1/containers/{name}/logs/stream") as r,
        ):
            async for ev in events(r):
                if ev.event == "log":
                    break
            # a viewer joins the same hub
            assert await asyncio.to_thread(held, pid, server.url, one + 1)
        assert hubs_open(server.url, "logs") == 1
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def two_hosts(
    receiver: Receiver, private: PrivateEngine, tmp: Path
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with two hosts (MOORAGE_HOSTS_FILE): `local`, the shared engine, and
    `pe`, a private one."""
    hosts = tmp / "hosts.toml"
    hosts.write_text(
        '[[hosts]]\nname = "local"\nurl = "unix:///var/run/docker.sock"\ndefault = true\n\n'
        f'[[hosts]]\nname = "pe"\nurl = "{private.url}"\n'
    )
    async with in_process(alert_settings(receiver, hosts_file=hosts)) as (app, c):
        yield app, c


@pytest.mark.slow
async def test_rules_per_host_and_across_hosts(
    receiver, private_engine: PrivateEngine, name, tmp_path
):
    async with two_hosts(receiver, private_engine, tmp_path) as (app, c):
        assert sorted(app.state.alerts.watches) == ["local", "pe"]
        for hosts, path in ((["pe"], "/pe-only"), (["*"], "/every")):
            body = rule(receiver, {"kind": "event", "action": ["die"]}, name)
            body["scope"]["hosts"] = hosts
            body["target"]["url"] = receiver.url + path
            await create(c, body)
        run_container(name, "exit 1")  # on local
        private_engine.docker(
            "run", "--name", name, "--network", "none", TEST_IMAGE, "sh", "-c", "exit 2",
            check=False,  # it exits 2: that is the point
        )  # fmt: skip
        got = await receiver.wait_for(lambda g: len(g) >= 3)
        await asyncio.sleep(1)
        seen = sorted((r.path, r.json()["host"]) for r in receiver.got)
        assert seen == [("/every", "local"), ("/every", "pe"), ("/pe-only", "pe")]
        assert all(r.signed_with(SECRET) for r in got)
        private_engine.docker("rm", "-f", name)


@pytest.mark.slow
async def test_host_down_fires_and_resolves(receiver, private_engine: PrivateEngine, tmp_path):
    async with two_hosts(receiver, private_engine, tmp_path) as (_, c):
        body = rule(receiver, {"kind": "host", "state": ["down"]}, "x")
        body["scope"] = {"hosts": ["pe"]}
        await create(c, body)
        await asyncio.sleep(1.5)
        assert receiver.got == []  # up: nothing to say
        await asyncio.to_thread(private_engine.stop)
        got = await receiver.wait_for(lambda g: len(g) >= 1, timeout=60)
        alert = got[0].json()
        assert alert["state"] == "firing"
        assert alert["host"] == "pe"
        assert alert["container"] == {"id": "", "name": ""}
        assert alert["reason"] == "host pe is down"
        await asyncio.to_thread(private_engine.start)
        got = await receiver.wait_for(lambda g: len(g) >= 2, timeout=60)
        assert got[1].json()["state"] == "resolved"
        assert got[1].json()["reason"] == "host pe is up"
        assert all(r.json()["host"] == "pe" for r in got)  # local stayed up: nothing


@pytest.mark.slow
async def test_two_replicas_on_one_postgresql_send_each_alert_once(receiver, postgres, name):
    settings = alert_settings(receiver, audit_db=postgres)
    apps = [create_app(settings), create_app(settings)]
    async with LifespanManager(apps[0]), LifespanManager(apps[1]):
        transport = httpx.ASGITransport(app=apps[0], client=("127.0.0.1", 123))
        async with httpx.AsyncClient(transport=transport, base_url="http://m") as c:
            made = await create(c, rule(receiver, {"kind": "event", "action": ["die"]}, f"{name}*"))
            await asyncio.sleep(2.5)  # the other replica reads the rules every 2 s
            for i in range(3):
                run_container(f"{name}-{i}", "exit 1")
            await receiver.wait_for(lambda g: len(g) >= 3)
            await asyncio.sleep(2)
            assert len(receiver.got) == 3, [r.json() for r in receiver.got]
            assert len({r.delivery for r in receiver.got}) == 3
            rows = (await c.get("/v1/alerts/deliveries", params={"rule_id": made["id"]})).json()
            assert len(rows) == 3
            assert all(len(d["attempts"]) == 1 for d in rows)
        # Both replicas evaluated: each saw the events (no one is idle by luck).
        assert all(a.state.alerts.watches["local"] for a in apps)
        # One pool per process: alerting's tables go through the audit store's.
        assert all(a.state.alerts.store.db.audit is a.state.audit for a in apps)
