"""Engine restart in flight (stop the PRIVATE dockerd, start it again).

Requests under way get problem documents (502/503/504), never a crash or a bare 500;
the event reader resyncs within 5 s, misses no event from after the engine's return,
and says where there is a gap it cannot fill. With the stream routes in place, 50 open
streams end with `end` or `error` and a retry hint (or, for events, carry on past a
gap marker).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.services.events import Event, EventBus, Subscription
from app.settings import Settings
from tests.conftest import TEST_IMAGE, LiveServer
from tests.engine_harness import PrivateEngine, private_engine, route_exists

__all__ = ["private_engine"]

pytestmark = [pytest.mark.engine, pytest.mark.slow]

# 503: from an engine call, or (host-unavailable) at once once the host is known down.
ENGINE_PROBLEMS = {
    502: {"engine-error"},
    503: {"engine-unavailable", "host-unavailable"},
    504: {"timeout"},
}
PATHS = ["/v1/system/ping", "/v1/system/version", "/v1/system/info", "/readyz"]


async def next_matching(sub: Subscription, predicate: Any, within: float) -> Event:
    async with asyncio.timeout(within):
        while True:
            event = await sub.get()
            if predicate(event):
                return event


class Load:
    """Requests under way, all the time, while the engine goes and comes back."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.statuses: Counter[int] = Counter()
        self.bad: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _worker(self, n: int) -> None:
        i = n
        while not self._stop.is_set():
            path = PATHS[i % len(PATHS)]
            i += 1
            r = await self.client.get(path)
            self.statuses[r.status_code] += 1
            if r.status_code == 200:
                continue
            code = r.json().get("code") if "json" in r.headers.get("content-type", "") else None
            if path == "/readyz" and r.status_code == 503:
                continue
            if code not in ENGINE_PROBLEMS.get(r.status_code, set()):
                self.bad.append(f"{path} {r.status_code} {r.text[:200]}")
            if r.status_code == 503 and "retry-after" not in r.headers:
                self.bad.append(f"{path} 503 without Retry-After")
            await asyncio.sleep(0.01)

    def start(self, workers: int = 8) -> None:
        self._tasks = [asyncio.create_task(self._worker(n)) for n in range(workers)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


async def test_restart_in_flight_resyncs_events(
    private_engine: PrivateEngine, name: str, image: str
) -> None:
    settings = Settings(MOORAGE_DOCKER_HOST=private_engine.url, MOORAGE_ENGINE_TIMEOUT=5)
    app = create_app(settings)
    async with LifespanManager(app):
        bus: EventBus = app.state.events
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://moorage.test") as client,
        ):
            with bus.subscribe() as sub:
                async with asyncio.timeout(15):
                    await bus.connected.wait()
                before = (
                    await asyncio.to_thread(
                        private_engine.docker, "create", "--name", f"{name}-a", image, "true"
                    )
                ).strip()
                await next_matching(
                    sub, lambda e: e.get("Actor", {}).get("ID") == before, within=10
                )
                seen_before = bus.last_time_nano
                assert seen_before is not None

                load = Load(client)
                load.start()
                await asyncio.to_thread(private_engine.stop)
                await next_matching(sub, lambda e: e.get("moorage") == "disconnected", 15)
                await asyncio.sleep(0.5)  # requests keep failing for a while
                await asyncio.to_thread(private_engine.start)
                returned = time.monotonic()
                # An event from right after the engine's return, likely before the
                # reader is back: the replay must bring it.
                after = (
                    await asyncio.to_thread(
                        private_engine.docker, "create", "--name", f"{name}-b", image, "true"
                    )
                ).strip()

                connected = await next_matching(
                    sub, lambda e: e.get("moorage") == "connected", within=5
                )
                resync_s = time.monotonic() - returned
                assert connected["resumed_from"] == seen_before
                # The engine restarted: it cannot replay back to what we saw last.
                gap = await next_matching(sub, lambda e: e.get("moorage") == "gap", within=10)
                assert gap["after"] == seen_before
                assert gap["before"] > seen_before
                created = await next_matching(
                    sub,
                    lambda e: e.get("Action") == "create" and e["Actor"]["ID"] == after,
                    within=10,
                )
                assert int(created["timeNano"]) >= gap["before"]
                assert bus.connected.is_set()
                assert any(e.get("Actor", {}).get("ID") == after for e in bus.journal)

                # Things work again, without restarting moorage.
                await asyncio.sleep(0.3)
                await load.stop()
                assert load.bad == [], load.bad[:5]
                assert load.statuses[200] > 0
                assert sum(v for k, v in load.statuses.items() if k != 200) > 0, load.statuses
                r = await client.get("/v1/system/info")
                assert r.status_code == 200
                print(f"resync {resync_s:.2f} s after the engine answered; {dict(load.statuses)}")
                await asyncio.to_thread(private_engine.docker, "rm", "-f", before, after)


async def test_no_gap_when_the_engine_kept_its_events(
    private_engine: PrivateEngine, name: str, image: str
) -> None:
    """A reconnect without an engine restart replays everything: no gap marker."""
    app = create_app(Settings(MOORAGE_DOCKER_HOST=private_engine.url))
    async with LifespanManager(app):
        bus: EventBus = app.state.events
        with bus.subscribe() as sub:
            async with asyncio.timeout(15):
                await bus.connected.wait()
            first = (
                await asyncio.to_thread(
                    private_engine.docker, "create", "--name", f"{name}-a", image, "true"
                )
            ).strip()
            await next_matching(sub, lambda e: e.get("Actor", {}).get("ID") == first, 10)
            # Cut the reader's connection (not the engine): it reconnects with `since`.
            task = bus._task
            assert task is not None
            await bus.stop()
            second = (
                await asyncio.to_thread(
                    private_engine.docker, "create", "--name", f"{name}-b", image, "true"
                )
            ).strip()
            await bus.start()
            connected = await next_matching(sub, lambda e: e.get("moorage") == "connected", 5)
            assert connected["resumed_from"] is not None
            got = await next_matching(
                sub,
                lambda e: e.get("moorage") == "gap" or e.get("Actor", {}).get("ID") == second,
                10,
            )
            assert got.get("moorage") != "gap", got
            assert got["Action"] == "create"
            await asyncio.to_thread(private_engine.docker, "rm", "-f", first, second)


def test_fifty_open_streams_survive_an_engine_restart(private_engine: PrivateEngine) -> None:
    """50 open streams across an engine restart: each ends with `end`/`error` and a retry
    hint, or (events) carries on and says where the gap is. Runs once /v1/events exists.
    """
    server = LiveServer(env={"MOORAGE_DOCKER_HOST": private_engine.url}).start(wait_ready=True)
    try:
        if not route_exists(server.url, "GET", "/v1/events"):
            pytest.skip("no /v1/events route on this branch yet (streams land later)")
        asyncio.run(_fifty_streams(server, private_engine))
        assert server.proc is not None
        assert server.proc.poll() is None
    finally:
        server.stop()
        private_engine.clear()


async def _fifty_streams(server: LiveServer, engine: PrivateEngine) -> None:
    outcome: dict[int, str] = {}
    texts: dict[int, str] = {}

    async def one(i: int, http: httpx.AsyncClient, opened: asyncio.Event) -> None:
        buf = ""
        async with http.stream("GET", "/v1/events") as r:
            assert r.status_code == 200
            opened.set()
            async for chunk in r.aiter_text():
                buf += chunk
                texts[i] = buf
                if "event: end" in buf or "event: error" in buf:
                    outcome[i] = "ended"
                elif "gap" in buf and "event: container" in buf.split("gap", 1)[1]:
                    outcome[i] = "gap-then-events"
                    return
        outcome.setdefault(i, "closed")

    limits = httpx.Limits(max_connections=60)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:
        opened = [asyncio.Event() for _ in range(50)]
        tasks = [asyncio.create_task(one(i, http, opened[i])) for i in range(50)]
        async with asyncio.timeout(30):
            for ev in opened:
                await ev.wait()
        await asyncio.to_thread(engine.stop)
        await asyncio.to_thread(engine.start)
        await asyncio.to_thread(engine.docker, "create", TEST_IMAGE, "true")
        async with asyncio.timeout(30):
            await asyncio.gather(*tasks)
    for i in range(50):
        text = texts.get(i, "")
        assert outcome.get(i) in ("ended", "gap-then-events"), (i, outcome.get(i), text[-300:])
        if outcome[i] == "ended":
            assert "retry:" in text, text[-300:]


def test_engine_loss_ends_health_and_stats_streams(private_engine: PrivateEngine) -> None:
    """Streams that need the engine end with `error` engine-unavailable and a retry hint
    when it goes away (never hang), while /v1/events stays open and reports the gap."""
    server = LiveServer(env={"MOORAGE_DOCKER_HOST": private_engine.url}).start(wait_ready=True)
    try:
        asyncio.run(_engine_loss(server, private_engine))
    finally:
        server.stop()
        private_engine.clear()


async def _engine_loss(server: LiveServer, engine: PrivateEngine) -> None:
    texts: dict[str, str] = {}

    async def read(path: str, opened: asyncio.Event, until: str) -> None:
        async with http.stream("GET", path) as r:
            assert r.status_code == 200
            opened.set()
            texts[path] = ""
            async for chunk in r.aiter_text():
                texts[path] += chunk
                if until in texts[path]:
                    return

    paths = {
        "/v1/health/stream": "event: error",
        "/v1/stats/stream?interval=1": "event: error",
        "/v1/events": "event: container",
    }
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        opened = {p: asyncio.Event() for p in paths}
        tasks = [asyncio.create_task(read(p, opened[p], u)) for p, u in paths.items()]
        async with asyncio.timeout(30):
            for ev in opened.values():
                await ev.wait()
        await asyncio.to_thread(engine.stop)
        await asyncio.to_thread(engine.start)
        await asyncio.to_thread(engine.docker, "create", TEST_IMAGE, "true")
        async with asyncio.timeout(30):
            await asyncio.gather(*tasks)
    for path in ("/v1/health/stream", "/v1/stats/stream?interval=1"):
        text = texts[path]
        tail = text.rsplit("event: error", 1)
        assert len(tail) == 2, text[-300:]
        assert '"code":"engine-unavailable"' in tail[1], text[-300:]
        assert "retry:" in text, text[-300:]
    events = texts["/v1/events"]
    assert "event: gap" in events
    assert events.index("event: gap") < events.index("event: container")


async def test_state_resyncs_after_an_engine_restart(
    private_engine: PrivateEngine, name: str, image: str
) -> None:
    """A container running before the engine stopped is listed as exited within 5 s of
    the engine's return: the container state re-lists after a reconnect, whatever
    events the restart lost."""
    settings = Settings(MOORAGE_DOCKER_HOST=private_engine.url, MOORAGE_ENGINE_TIMEOUT=5)
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://moorage.test") as c:
            r = await c.post(
                "/v1/containers",
                json={"image": image, "name": name, "command": ["sleep", "600"],
                      "network": "none"},
            )  # fmt: skip
            assert r.status_code == 201, r.text
            cid = r.json()["id"]
            try:
                listed = (await c.get("/v1/containers", params={"name": name})).json()
                assert [x["state"] for x in listed] == ["running"]
                state = app.state.containers
                assert state is not None
                assert state.ready.is_set()
                resyncs = state.resyncs
                await asyncio.to_thread(private_engine.stop)  # its containers die with it
                await asyncio.to_thread(private_engine.start)
                returned = time.monotonic()

                async def state_of() -> str | None:
                    r = await c.get("/v1/containers", params={"all": "true", "name": name})
                    found = r.json() if r.status_code == 200 else []
                    return found[0]["state"] if found else None

                # A full re-list after the reconnect, and the container as it now is.
                while state.resyncs == resyncs or await state_of() != "exited":
                    assert time.monotonic() - returned < 5, "state not resynced within 5 s"
                    await asyncio.sleep(0.05)
                # The list came from moorage's state, and it agrees with the engine.
                fresh = await c.get(
                    "/v1/containers", params={"all": "true", "name": name, "fresh": "true"}
                )
                assert [x["state"] for x in fresh.json()] == ["exited"]
            finally:
                await asyncio.to_thread(private_engine.docker, "rm", "-f", cid, check=False)
