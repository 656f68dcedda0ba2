"""The event-fed container state (app/state.py), against the real engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from app.engine import Engine
from app.errors import ContainerNotFound, EngineUnavailable
from app.models.common import rfc3339
from app.services.events import EventBus
from app.settings import Settings
from app.state import (
    STALE_HEADER,
    ContainerState,
    Entry,
    StateTimes,
    _matches,
    human_duration,
    inspect_container,
    inspect_container_json,
    list_containers,
    list_containers_json,
)
from tests.conftest import RUN_ID, TEST_LABEL, docker

# -- pure: the engine's words ---------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (120, "2 minutes"),
        (3599, "59 minutes"),
        (3600, "About an hour"),
        (5400, "2 hours"),
        (47 * 3600, "47 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration_is_the_engines(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def _times(**kw: Any) -> StateTimes:
    base: dict[str, Any] = {
        "running": False,
        "paused": False,
        "restarting": False,
        "removing": False,
        "dead": False,
        "exit_code": 0,
        "started_at": None,
        "finished_at": None,
        "health": None,
    }
    return StateTimes(**{**base, **kw})


def test_status_text_follows_state_string() -> None:
    now = 1_000_000.0
    assert _times().status_text(now) == "Created"
    assert _times(running=True, started_at=now - 5).status_text(now) == "Up 5 seconds"
    assert (
        _times(running=True, started_at=now - 5, health="starting").status_text(now)
        == "Up 5 seconds (health: starting)"
    )
    assert (
        _times(running=True, paused=True, started_at=now - 300).status_text(now)
        == "Up 5 minutes (Paused)"
    )
    assert (
        _times(started_at=now - 100, finished_at=now - 61, exit_code=3).status_text(now)
        == "Exited (3) About a minute ago"
    )
    assert _times(dead=True, started_at=now).status_text(now) == "Dead"


def test_status_text_from_inspect_times() -> None:
    doc = {
        "State": {
            "Running": True,
            "StartedAt": "2026-01-01T00:00:00.123456789Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
            "Health": {"Status": "healthy"},
        }
    }
    times = StateTimes.from_inspect(doc)
    assert times.finished_at is None
    assert times.started_at is not None
    assert times.status_text(times.started_at + 7200) == "Up 2 hours (healthy)"


def test_filters_in_process() -> None:
    entry = Entry(
        {
            "Id": "abc123" + "0" * 58,
            "Names": ["/web-1"],
            "Image": "nginx:latest",
            "ImageID": "sha256:feed",
            "State": "exited",
            "Status": "Exited (2) 3 minutes ago",
            "Labels": {"team": "a", "tier": "web"},
            "NetworkSettings": {"Networks": {"bridge": {"NetworkID": "n1"}}},
        }
    )
    ok: Callable[[dict[str, list[str]]], bool] = lambda f: _matches(entry, f)  # noqa: E731
    assert ok({"label": ["team"]})
    assert ok({"label": ["team=a", "tier=web"]})
    assert not ok({"label": ["team=b"]})
    assert ok({"name": ["web"]})
    assert not ok({"name": ["db"]})
    assert ok({"status": ["exited", "running"]})
    assert ok({"ancestor": ["nginx"]})
    assert ok({"ancestor": ["feed"]})
    assert not ok({"ancestor": ["alpine"]})
    assert ok({"network": ["bridge"]})
    assert ok({"id": ["abc"]})
    assert ok({"exited": ["2"]})
    assert not ok({"exited": ["0"]})


# -- against the engine ----------------------------------------------------------------


@pytest.fixture
async def state(settings: Settings) -> AsyncIterator[ContainerState]:
    engine = Engine(settings)
    bus = EventBus(engine)
    cache = ContainerState(engine, bus, resync_interval=30)
    await bus.start()
    await cache.start()
    try:
        async with asyncio.timeout(20):
            await cache.ready.wait()
        yield cache
    finally:
        await cache.stop()
        await bus.stop()
        await engine.close()


async def until(predicate: Callable[[], bool], within: float = 15) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def mine(cache: ContainerState) -> list[dict[str, Any]]:
    docs = cache.summaries(all=True, filters={"label": [f"{TEST_LABEL}={RUN_ID}"]})
    if docs is None:  # the copy is catching up after a reconnect (see stale_since): ask
        docs = cache.summaries(all=True, filters={"label": [f"{TEST_LABEL}={RUN_ID}"]}, stale=True)
    assert docs is not None
    return docs


async def test_list_follows_engine_events(state: ContainerState, name: str, image: str) -> None:
    cid = docker(
        "run", "-d", "--name", name, "--label", f"{TEST_LABEL}={RUN_ID}", image, "sleep", "300"
    ).strip()
    await until(lambda: any(d["Id"] == cid and d["State"] == "running" for d in mine(state)))
    running = state.summaries(all=False)
    assert running is not None
    assert cid in {d["Id"] for d in running}
    doc = next(d for d in mine(state) if d["Id"] == cid)
    assert doc["Names"] == [f"/{name}"]
    assert doc["Status"].startswith("Up ")

    docker("stop", "-t", "0", cid)
    await until(lambda: any(d["Id"] == cid and d["State"] == "exited" for d in mine(state)))
    running = state.summaries(all=False)
    assert running is not None
    assert cid not in {d["Id"] for d in running}
    assert next(d for d in mine(state) if d["Id"] == cid)["Status"].startswith("Exited (")

    docker("rm", cid)
    await until(lambda: all(d["Id"] != cid for d in mine(state)))


async def test_list_matches_engine_list(state: ContainerState, name: str, image: str) -> None:
    for i in range(3):
        docker(
            "create", "--name", f"{name}-{i}", "--label", f"{TEST_LABEL}={RUN_ID}", image, "true"
        )
    flt = {"label": [f"{TEST_LABEL}={RUN_ID}"], "name": [name]}
    engine_docs = await state.engine.json(
        "GET", "containers/json", params={"all": True, "filters": flt}
    )
    await until(lambda: len(state.summaries(all=True, filters=flt) or []) == 3)
    ours = state.summaries(all=True, filters=flt)
    assert ours is not None
    assert [d["Id"] for d in ours] == [d["Id"] for d in engine_docs]
    assert [d["Status"] for d in ours] == [d["Status"] for d in engine_docs]


async def test_refresh_is_read_your_writes(state: ContainerState, name: str, image: str) -> None:
    # Changes are made under the state's nose; refresh() must show them at once.
    cid = docker("create", "--name", name, "--label", f"{TEST_LABEL}={RUN_ID}", image).strip()
    await state.refresh(name)
    assert state.resolve(name) == cid
    assert state.resolve(cid[:12]) == cid
    doc = state.get(name)
    assert doc is not None
    assert doc["Id"] == cid
    assert doc["Name"] == f"/{name}"

    docker("rm", cid)
    await state.refresh(cid)
    assert state.resolve(cid) is None
    assert state.get(cid) is None


async def test_unknown_filter_sends_caller_to_engine(state: ContainerState) -> None:
    assert state.summaries(all=True, filters={"volume": ["x"]}) is None
    assert state.summaries(all=True, filters={"label": [f"{TEST_LABEL}=nobody"]}) == []


async def test_inspect_served_from_memory(state: ContainerState, name: str, image: str) -> None:
    cid = docker(
        "run", "-d", "--name", name, "--label", f"{TEST_LABEL}={RUN_ID}", image, "sleep", "300"
    ).strip()
    doc = await state.inspect(name)
    assert doc["Id"] == cid
    await until(lambda: bool((state.get(cid) or {}).get("State", {}).get("Running")))
    docker("rm", "-f", cid)
    await until(lambda: state.resolve(cid) is None)


async def test_rendered_json_is_kept_per_version(
    state: ContainerState, name: str, image: str
) -> None:
    cid = docker("create", "--name", name, "--label", f"{TEST_LABEL}={RUN_ID}", image).strip()
    await state.refresh(cid)
    calls: list[str] = []

    def render(doc: dict[str, Any]) -> bytes:
        calls.append(doc["Id"])
        return orjson.dumps({"id": doc["Id"]})

    flt = {"id": [cid]}
    assert orjson.loads(state.summaries_json(render, all=True, filters=flt) or b"") == [{"id": cid}]
    assert state.summaries_json(render, all=True, filters=flt) is not None
    assert calls == [cid]  # rendered once

    assert orjson.loads(state.detail_json(name, render) or b"") == {"id": cid}
    assert state.detail_json(cid[:12], render) is not None
    assert calls == [cid, cid]

    docker("start", cid)
    await state.refresh(cid)  # a change: rendered again
    assert state.detail_json(cid, render) is not None
    assert len(calls) == 3
    docker("rm", "-f", cid)


async def test_resync_after_reconnect_and_periodically(state: ContainerState) -> None:
    before = state.resyncs
    # What the event reader publishes when the engine came back after a disconnect.
    state.bus._publish({"moorage": "disconnected"})
    state.bus._publish({"moorage": "connected", "resumed_from": 1})
    await until(lambda: state.resyncs > before)

    state.resync_interval = 0.1  # read at each wait: the next quiet spell resyncs
    state.bus._publish({"moorage": "connected", "resumed_from": None})
    count = state.resyncs
    await until(lambda: state.resyncs >= count + 2)
    state.resync_interval = 30


async def test_remove_wins_over_a_read_under_way(
    state: ContainerState, name: str, image: str
) -> None:
    cid = docker("create", "--name", name, "--label", f"{TEST_LABEL}={RUN_ID}", image).strip()
    await state.refresh(cid)
    late = asyncio.create_task(state.refresh(cid))  # reads the container as it still is
    await asyncio.sleep(0)
    state.note_removed(name)  # what a route does once its remove has answered
    await late
    assert state.resolve(cid) is None
    docker("rm", cid)


async def test_helpers_answer_alike_from_state_and_engine(
    state: ContainerState, name: str, image: str
) -> None:
    cid = docker("create", "--name", name, "--label", f"{TEST_LABEL}={RUN_ID}", image).strip()
    await state.refresh(cid)
    flt = {"label": [f"{TEST_LABEL}={RUN_ID}"], "name": [name]}

    def render(doc: dict[str, Any]) -> bytes:
        return orjson.dumps({"id": doc["Id"]})

    for fresh in (False, True):
        docs = await list_containers(state, state.engine, all=True, filters=flt, fresh=fresh)
        assert [d["Id"] for d in docs] == [cid]
        body = await list_containers_json(
            state, state.engine, render, all=True, filters=flt, fresh=fresh
        )
        assert orjson.loads(body.body) == [{"id": cid}]
        doc = await inspect_container(state, state.engine, name, fresh=fresh)
        assert doc["Id"] == cid
        one = await inspect_container_json(state, state.engine, name, render, fresh=fresh)
        assert orjson.loads(one.body) == {"id": cid}
    # Disabled state: the engine answers.
    assert [d["Id"] for d in await list_containers(None, state.engine, all=True, filters=flt)] == [
        cid
    ]
    with pytest.raises(ContainerNotFound):
        await inspect_container(state, state.engine, f"{name}-absent")
    docker("rm", cid)


async def test_no_answer_from_the_copy_once_the_reader_lost_the_engine(
    state: ContainerState, name: str, image: str
) -> None:
    """The states of `stale_since`, as the event reader moves them (set by hand here;
    tests/test_reliability_stale.py stops a real engine)."""
    cid = docker("create", "--name", name, "--label", f"{TEST_LABEL}={RUN_ID}", image).strip()
    await state.refresh(cid)
    flt = {"label": [f"{TEST_LABEL}={RUN_ID}"], "name": [name]}

    def render(doc: dict[str, Any]) -> bytes:
        return orjson.dumps({"id": doc["Id"]})

    bus = state.bus
    assert state.stale_since is None
    lost = time.time()
    bus.lost_at = lost
    bus.connected.clear()  # as the reader does when the engine goes
    bus.unreachable = True  # and when it then cannot connect
    try:
        assert bus.known_down
        assert state.stale_since == lost
        assert state.summaries(all=True, filters=flt) is None
        assert state.get(cid) is None
        assert [d["Id"] for d in state.summaries(all=True, filters=flt, stale=True) or []] == [cid]
        with pytest.raises(EngineUnavailable):
            await list_containers_json(state, state.engine, render, all=True, filters=flt)
        with pytest.raises(EngineUnavailable):
            await inspect_container_json(state, state.engine, cid, render, fresh=True)
        answer = await list_containers_json(
            state, state.engine, render, all=True, filters=flt, stale=True
        )
        assert orjson.loads(answer.body) == [{"id": cid}]
        assert answer.headers[STALE_HEADER] == rfc3339(lost)
        one = await inspect_container_json(state, state.engine, name, render, stale=True)
        assert one.headers[STALE_HEADER] == rfc3339(lost)

        # Back, not caught up yet: the engine answers (fresh, unmarked).
        bus.connected.set()
        bus.unreachable = False
        assert not bus.known_down
        assert state.stale_since == lost
        assert state.get(cid) is None
        answer = await list_containers_json(
            state, state.engine, render, all=True, filters=flt, stale=True
        )
        assert STALE_HEADER not in answer.headers
        assert orjson.loads(answer.body) == [{"id": cid}]
        # A full resync while the reader follows: the copy answers again.
        await state.resync()
        assert state.stale_since is None
        assert state.get(cid) is not None
    finally:
        bus.connected.set()
        bus.unreachable = False
        await state.resync()  # whatever failed above, the next test gets a copy in step
        docker("rm", "-f", cid)
