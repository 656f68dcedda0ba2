"""`host=*` on the fleet-wide streams (app/fleet.py `merged`), against a real uvicorn,
the shared engine (`local`) and a private one (`pe-a`).

Each event names its host; the id holds every host's position, so a reconnect with
it resumes each host where it was; a host that goes down and comes back is told as
`event: host`, and the stream goes on.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import RUN_ID, TEST_LABEL, LiveServer
from tests.engine_harness import PrivateEngine, _cannot_run
from tests.sse import Event, events

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pe() -> Iterator[PrivateEngine]:
    reason = _cannot_run()
    if reason:
        pytest.skip(f"private engine unavailable: {reason}")
    engine = PrivateEngine(Path(f"/tmp/moorage-hosts-{os.getpid()}-s"))
    try:
        engine.start()
    except Exception as exc:
        engine.wipe()
        pytest.skip(f"private engine unavailable: {exc}")
    yield engine
    engine.wipe()


@pytest.fixture(scope="module")
def server(pe: PrivateEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    hosts = tmp_path_factory.mktemp("hosts") / "hosts.toml"
    hosts.write_text(
        '[[hosts]]\nname = "local"\nurl = "unix:///var/run/docker.sock"\ndefault = true\n\n'
        f'[[hosts]]\nname = "pe-a"\nurl = "{pe.url}"\n'
    )
    live = LiveServer(env={"MOORAGE_HOSTS_FILE": str(hosts), "MOORAGE_AUDIT_DB": ":memory:"}).start(
        wait_ready=True
    )
    yield live
    live.stop()


async def _next(it: object, want: str, within: float = 20) -> Event:
    """The next event of kind `want` (others skipped)."""
    async with asyncio.timeout(within):
        while True:
            ev: Event = await anext(it)  # type: ignore[call-overload]
            if ev.event == want:
                return ev


async def _until_up(c: httpx.AsyncClient, name: str) -> None:
    async with asyncio.timeout(20):
        while (await c.get(f"/v1/hosts/{name}")).json()["state"] != "up":  # noqa: ASYNC110 (another process: polled)
            await asyncio.sleep(0.2)


async def test_events_of_every_host_resumable(
    server: LiveServer, pe: PrivateEngine, image: str, name: str
) -> None:
    labels = {TEST_LABEL: RUN_ID}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        await _until_up(c, "pe-a")
        params = {"host": "*", "type": "volume", "volume": name}
        async with c.stream("GET", "/v1/events", params=params) as r:
            assert r.status_code == 200
            it = aiter(events(r))
            for on in ("local", "pe-a"):
                made = await c.post(f"/v1/volumes?host={on}", json={"name": name, "labels": labels})
                assert made.status_code == 201, made.text
            first = await _next(it, "volume")
            second = await _next(it, "volume")
        assert {first.json["host"], second.json["host"]} == {"local", "pe-a"}
        assert first.json["action"] == second.json["action"] == "create"
        assert first.id is not None
        assert second.id is not None
        # Every host's position: the second id names both hosts.
        assert {p.split(":")[0] for p in second.id.split(",")} == {"local", "pe-a"}
        # Resume after the first: the second comes again, the first does not.
        headers = {"Last-Event-ID": first.id}
        async with c.stream("GET", "/v1/events", params=params, headers=headers) as r:
            it = aiter(events(r))
            again = await _next(it, "volume")
            assert again.json == second.json
            # A host going down and coming back is told, and the stream goes on.
            await asyncio.to_thread(pe.stop)
            down = await _next(it, "host")
            assert down.json["host"] == "pe-a"
            assert down.json["state"] == "down"
            await asyncio.to_thread(pe.start)
            up = await _next(it, "host")
            assert up.json == {**up.json, "host": "pe-a", "state": "up"}
            for on in ("local", "pe-a"):
                gone = await c.delete(f"/v1/volumes/{name}?host={on}")
                assert gone.status_code == 204, gone.text
            removed = {(await _next(it, "volume")).json["host"] for _ in range(2)}
            assert removed == {"local", "pe-a"}
        bad = await c.get("/v1/events?host=*", headers={"Last-Event-ID": "12345"})
        assert bad.status_code == 422


async def test_health_and_stats_of_every_host(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        await _until_up(c, "pe-a")
        for path in ("/v1/health/stream", "/v1/stats/stream"):
            async with c.stream("GET", path, params={"host": "*"}) as r:
                assert r.status_code == 200, path
                assert r.headers["content-type"].startswith("text/event-stream")
        r = await c.get("/v1/health/stream?host=*&last_event_id=nonsense")
        assert r.status_code == 422
