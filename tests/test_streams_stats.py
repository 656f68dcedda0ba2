"""Stats streams: the computed sample per container, and all containers per interval."""

from __future__ import annotations

import httpx
import pytest

from tests.sse import Event, events, run_container

pytestmark = pytest.mark.engine

FIELDS = {"container_id", "cpu_percent", "memory_usage", "memory_limit", "memory_percent"}


async def test_container_stats_stream(live_server, name):
    cid = run_container(name, "sleep 300")
    url = f"{live_server.url}/v1/containers/{name}/stats/stream"
    got: list[Event] = []
    async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", url) as r:
        async for ev in events(r):
            got.append(ev)
            if len(got) == 2:
                break
    assert [e.event for e in got] == ["stats", "stats"]
    assert all(set(e.json) >= FIELDS and e.json["container_id"] == cid for e in got)
    assert got[1].json["memory_usage"] > 0


async def test_all_stats_by_label(live_server, name):
    ids = {run_container(f"{name}-{i}", "sleep 300", "--label", f"app={name}") for i in range(2)}
    url = f"{live_server.url}/v1/stats/stream?label=app={name}&interval=1"
    seen: set[str] = set()
    async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", url) as r:
        async for ev in events(r):
            assert ev.event == "stats"
            seen.add(ev.json["container_id"])
            if seen == ids:
                break
    assert seen == ids
