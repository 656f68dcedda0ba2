"""Health streams: one event per change of status, the first the current one."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.conftest import docker
from tests.sse import Event, events, run_container

pytestmark = pytest.mark.engine

HEALTH = (
    "--health-cmd",
    "test -f /tmp/ok && echo ok || (echo missing; exit 1)",
    "--health-interval",
    "1s",
    "--health-retries",
    "1",
    "--health-start-period",
    "5s",
)


async def test_transitions_one_event_each(live_server, name):
    cid = run_container(name, "sleep 300", *HEALTH)
    got: list[Event] = []
    url = f"{live_server.url}/v1/containers/{name}/health/stream"
    async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", url) as r:
        assert r.status_code == 200
        async for ev in events(r):
            assert ev.event == "health", ev
            got.append(ev)
            status = ev.json["status"]
            if len(got) == 2:  # unhealthy: the file is missing
                docker("exec", cid, "touch", "/tmp/ok")
            elif len(got) == 3:
                docker("exec", cid, "rm", "/tmp/ok")
            elif len(got) == 4:
                break
            del status
    statuses = [(e.json["previous"], e.json["status"]) for e in got]
    assert statuses == [
        (None, "starting"),
        ("starting", "unhealthy"),
        ("unhealthy", "healthy"),
        ("healthy", "unhealthy"),
    ]
    assert got[1].json["output"].strip() == "missing"
    assert got[2].json["output"].strip() == "ok"
    assert got[3].json["failing_streak"] >= 1
    assert all(e.json["container_id"] == cid and e.json["name"] == name for e in got)


async def test_all_containers_by_label_and_removal(live_server, name):
    cid = run_container(name, "touch /tmp/ok; sleep 300", *HEALTH, "--label", f"app={name}")
    url = f"{live_server.url}/v1/health/stream?label=app={name}"
    got: list[Event] = []
    async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", url) as r:
        async for ev in events(r):
            got.append(ev)
            if ev.json["status"] == "healthy":
                break
    assert {e.json["container_id"] for e in got} == {cid}
    assert got[-1].json["status"] == "healthy"
    assert len({e.json["status"] for e in got}) == len(got)  # never one per check
    # A per-container stream ends when the container is removed.
    url = f"{live_server.url}/v1/containers/{cid}/health/stream"
    async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", url) as r:
        seen: list[Event] = []
        async for ev in events(r):
            seen.append(ev)
            if len(seen) == 1:
                docker("rm", "-f", cid)
            if ev.event == "end":
                break
    assert seen[0].json["status"] == "healthy"
    assert seen[-1].event == "end"
    assert seen[-1].json == {"reason": "removed"}


def _wait_status(cid: str, want: str) -> None:
    """Until the engine says the container's health is `want` (a wait, not a check)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if docker("inspect", "-f", "{{.State.Health.Status}}", cid).strip() == want:
            return
        time.sleep(0.2)
    raise AssertionError(f"{cid} never became {want}")


async def _read(url: str, n: int, headers: dict[str, str] | None = None) -> list[Event]:
    got: list[Event] = []
    async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200
        async for ev in events(r):
            got.append(ev)
            if len(got) == n:
                break
    return got


@pytest.mark.slow
async def test_resume_gives_exactly_the_changes_missed_then_live(live_server, name):
    cid = run_container(name, "touch /tmp/ok; sleep 300", *HEALTH, "--label", f"app={name}")
    one = f"{live_server.url}/v1/containers/{name}/health/stream"
    fleet = f"{live_server.url}/v1/health/stream?label=app={name}"
    _wait_status(cid, "healthy")
    # Fresh streams: the current status; their ids are where a resume continues.
    (first,) = await _read(one, 1)
    (first_fleet,) = await _read(fleet, 1)
    assert first.json["status"] == first_fleet.json["status"] == "healthy"
    assert first.id is not None
    assert first_fleet.id is not None
    # Two changes while nobody watches.
    docker("exec", cid, "rm", "/tmp/ok")
    _wait_status(cid, "unhealthy")
    docker("exec", cid, "touch", "/tmp/ok")
    _wait_status(cid, "healthy")
    down, up = ("health", "healthy", "unhealthy"), ("health", "unhealthy", "healthy")
    # The container's stream, by the header: exactly those two, in order, then live.
    got = await _resume(one, first.id, {"Last-Event-ID": first.id}, 2, cid)
    assert [(e.event, e.json["previous"], e.json["status"]) for e in got] == [down, up, down]
    assert got[0].json["output"].strip() == "missing"
    docker("exec", cid, "touch", "/tmp/ok")
    _wait_status(cid, "healthy")
    # The fleet's stream, by the query, from its older id: the four changes since, then live.
    url = f"{fleet}&last_event_id={first_fleet.id}"
    got = await _resume(url, first_fleet.id, None, 4, cid)
    assert [(e.event, e.json["previous"], e.json["status"]) for e in got] == [
        down, up, down, up, down
    ]  # fmt: skip
    assert {e.json["container_id"] for e in got} == {cid}


async def _resume(
    url: str, since: str, headers: dict[str, str] | None, missed: int, cid: str
) -> list[Event]:
    """Resume: the `missed` changes, then one caused live; the ids after `since`,
    ordered, no repeats."""
    got: list[Event] = []
    async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200
        async for ev in events(r):
            got.append(ev)
            if len(got) == missed:
                docker("exec", cid, "rm", "/tmp/ok")
            if len(got) == missed + 1:
                break
    keys = [tuple(int(p) for p in i.split("-")) for i in [since, *(e.id or "" for e in got)]]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    return got


async def test_resume_ids_are_the_same_for_every_subscriber(live_server, name):
    """Two subscribers see one change under one id (the engine event's time)."""
    cid = run_container(name, "sleep 300", *HEALTH)
    url = f"{live_server.url}/v1/containers/{name}/health/stream"
    a, b = await asyncio.gather(_read(url, 2), _read(url, 2))
    assert (
        [e.json["status"] for e in a]
        == [e.json["status"] for e in b]
        == [
            "starting",
            "unhealthy",
        ]
    )
    assert a[1].id == b[1].id
    docker("rm", "-f", cid)


async def test_resume_from_before_the_journal_is_a_gap_then_the_status(live_server, name):
    run_container(name, "sleep 300", *HEALTH)
    url = f"{live_server.url}/v1/containers/{name}/health/stream"
    got = await _read(url, 2, {"Last-Event-ID": "1-0"})
    assert got[0].event == "gap"
    assert got[0].json["after"] == "1-0"
    assert got[1].event == "health"
    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.get(url, headers={"Last-Event-ID": "not-an-id"})
        assert r.status_code == 422
        assert "last_event_id" in r.text


async def test_removal_ends_the_stream_of_a_container_still_starting(live_server, name):
    """No change of status was ever seen (still `starting`): removal still ends it."""
    cid = run_container(name, "sleep 300", *HEALTH)
    url = f"{live_server.url}/v1/containers/{cid}/health/stream"
    seen: list[Event] = []
    async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", url) as r:
        async for ev in events(r):
            seen.append(ev)
            if len(seen) == 1:
                docker("rm", "-f", cid)
            if ev.event == "end":
                break
    assert seen[0].json["status"] == "starting"
    assert seen[-1].json == {"reason": "removed"}
