"""moorage itself (a real uvicorn) with its engine over TLS and over SSH: the routes a
user calls, end to end — list, create and start, logs and their stream, exec, the
event stream, a terminal — and nothing of moorage's environment reaching the SSH host.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.conftest import TEST_IMAGE, LiveServer
from tests.sse import events
from tests.transport_harness import SshEngine, TlsEngine, remote

__all__ = ["remote"]

pytestmark = pytest.mark.slow


@pytest.fixture
def served(remote: TlsEngine | SshEngine) -> Iterator[tuple[LiveServer, str]]:
    """moorage on the remote engine, with a secret in its environment."""
    secret = f"moorage-secret-{uuid.uuid4().hex}"
    server = LiveServer(env={**remote.env(), "MOORAGE_E2E_SECRET": secret, "LC_E2E": secret})
    server.start(wait_ready=True)
    try:
        yield server, secret
    finally:
        server.stop()


async def test_routes_end_to_end(
    remote: TlsEngine | SshEngine, served: tuple[LiveServer, str]
) -> None:
    server, secret = served
    name = f"mt-e2e-{remote.name}-{uuid.uuid4().hex[:6]}"
    mark = {"mt.e2e": name}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        ping = (await c.get("/v1/system/ping")).json()
        assert ping == {"ok": True, "api_version": "1.41"}

        r = await c.post(
            "/v1/containers",
            json={
                "image": TEST_IMAGE,
                "name": name,
                "labels": mark,
                "command": ["sh", "-c", "echo first; echo second >&2; sleep 600"],
            },
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        try:
            # The engine's own view: it runs there.
            assert remote.docker("inspect", "-f", "{{.State.Running}}", name).strip() == "true"
            listed = (await c.get("/v1/containers", params={"label": "mt.e2e=" + name})).json()
            assert [x["id"] for x in listed] == [cid]

            # Logs: history, then the stream (HTTP/1.0 to the engine, over the transport).
            for _ in range(150):
                if "first" in (await c.get(f"/v1/containers/{cid}/logs")).text:
                    break
                await asyncio.sleep(0.2)
            lines = (
                await c.get(
                    f"/v1/containers/{cid}/logs", headers={"Accept": "application/x-ndjson"}
                )
            ).text.splitlines()
            assert {(d["stream"], d["line"]) for d in map(json.loads, lines)} == {
                ("stdout", "first"),
                ("stderr", "second"),
            }
            seen: list[tuple[str, str]] = []
            async with (
                asyncio.timeout(30),
                c.stream("GET", f"/v1/containers/{cid}/logs/stream") as resp,
            ):
                assert resp.status_code == 200
                async for ev in events(resp):
                    if ev.event == "log":
                        seen.append((ev.json["stream"], ev.json["line"]))
                    if len(seen) == 2:
                        break
            assert sorted(seen) == [("stderr", "second"), ("stdout", "first")]

            r = await c.post(f"/v1/containers/{cid}/exec", json={"cmd": ["echo", "via-exec"]})
            assert r.status_code == 200, r.text
            assert r.json()["exit_code"] == 0
            assert "via-exec" in r.json()["output"]

            # A terminal (the hijacked connection) over the transport.
            t = await c.post(
                f"/v1/containers/{cid}/exec",
                json={"interactive": True, "tty": False, "cmd": ["sh", "-c", "read x; echo t-$x"]},
            )
            assert t.status_code == 201, t.text
            ws_url = server.url.replace("http://", "ws://") + t.json()["ws"]
            out = b""
            async with asyncio.timeout(30), websockets.connect(ws_url) as ws:
                await ws.send(b"typed\n")
                async for frame in ws:
                    if isinstance(frame, bytes):
                        out += frame
                    elif json.loads(frame).get("type") == "exit":
                        break
            assert b"t-typed" in out

            # The event stream sees the engine's events.
            async with (
                asyncio.timeout(30),
                c.stream("GET", "/v1/events", params={"container": cid}) as resp,
            ):
                assert resp.status_code == 200
                remote.docker("kill", name)
                async for ev in events(resp):
                    if ev.event == "container" and ev.json["action"] == "die":
                        assert ev.json["id"] == cid
                        break
        finally:
            await c.delete(f"/v1/containers/{cid}", params={"force": True})
    assert not remote.docker("ps", "-aq", "--filter", f"name={name}").strip()
    if isinstance(remote, SshEngine):
        # What the SSH sessions of this moorage got: nothing of its environment.
        envs = remote.session_envs()
        assert envs
        assert not [env for env in envs if secret in env]
