"""Health streams: one event per change of status, the first the current one."""

from __future__ import annotations

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
