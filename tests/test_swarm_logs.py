"""A service's logs merged across its tasks on both nodes: history in timestamp order,
and the SSE stream resumed mid-flow without repeats or gaps (against a real uvicorn)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from app.services.swarm_logs import Key, parse_id
from app.settings import Settings
from tests.conftest import LiveServer, SwarmNodes, in_process
from tests.engine_harness import wait_for
from tests.sse import events, held_sockets
from tests.swarm_helpers import start_service

pytestmark = pytest.mark.slow

# Four tasks printing numbered lines fast, one in ten on stderr, each naming its slot.
SCRIPT = (
    'i=0; while true; do i=$((i+1)); if [ $((i % 10)) = 0 ]; then echo "$SLOT $i err" >&2; '
    'else echo "$SLOT $i"; fi; usleep 20000; done'
)


@pytest.fixture(scope="module")
async def sw(swarm_nodes: SwarmNodes) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(Settings(docker_host=swarm_nodes.manager, audit_db=":memory:")) as (
        _,
        c,
    ):
        yield c


@pytest.fixture(scope="module")
async def chatty(sw: httpx.AsyncClient) -> AsyncIterator[str]:
    """A service of four tasks on both nodes, logging ~200 lines/s in all."""
    name = await start_service(sw, "chatty", SCRIPT, 4)
    try:
        await asyncio.sleep(1)  # some history on every task
        yield name
    finally:
        await sw.delete(f"/v1/services/{name}")


@pytest.fixture(scope="module")
def server(swarm_nodes: SwarmNodes) -> Iterator[LiveServer]:
    # A wider reorder window than the default: this machine is shared and loaded.
    env = {"MOORAGE_DOCKER_HOST": swarm_nodes.manager, "MOORAGE_SWARM_LOGS_WINDOW": "0.5"}
    live = LiveServer(env).start(wait_ready=True)
    yield live
    live.stop()


def keys(lines: list[dict[str, Any]]) -> list[Key]:
    return [parse_id(line["id"]) for line in lines]


async def test_history_merged_in_order_with_sources(sw: httpx.AsyncClient, chatty: str) -> None:
    r = await sw.get(f"/v1/services/{chatty}/logs")
    assert r.status_code == 200, r.text
    lines = r.json()
    assert len(lines) > 40
    ks = keys(lines)
    assert ks == sorted(ks)
    assert len(set(ks)) == len(ks)
    nodes = {n["id"] for n in (await sw.get("/v1/nodes")).json()}
    assert {line["node_id"] for line in lines} == nodes  # both nodes' tasks
    assert {line["slot"] for line in lines} == {1, 2, 3, 4}
    tasks = {t["id"]: t for t in (await sw.get("/v1/tasks", params={"service": chatty})).json()}
    for line in lines:
        slot, _, rest = line["line"].partition(" ")
        assert int(slot) == line["slot"]  # the line is where moorage says it came from
        task = tasks[line["task_id"]]
        assert line["container_id"] == task["container_id"]
        assert line["node_id"] == task["node_id"]
        assert line["stream"] == ("stderr" if rest.endswith("err") else "stdout")
        assert line["ts"].endswith("Z")
    # tail is per task; stdout only leaves the stderr lines out.
    tail = (await sw.get(f"/v1/services/{chatty}/logs", params={"tail": 3})).json()
    assert len(tail) == 12
    assert keys(tail) == sorted(keys(tail))
    out = (await sw.get(f"/v1/services/{chatty}/logs", params={"stderr": False})).json()
    assert out
    assert all(line["stream"] == "stdout" for line in out)
    bad = await sw.get(f"/v1/services/{chatty}/logs", params={"stdout": False, "stderr": False})
    assert bad.status_code == 422


async def test_task_logs(sw: httpx.AsyncClient, chatty: str) -> None:
    task = (
        await sw.get("/v1/tasks", params={"service": chatty, "desired_state": "running"})
    ).json()[0]
    lines = (await sw.get(f"/v1/tasks/{task['id']}/logs")).json()
    assert lines
    assert {line["task_id"] for line in lines} == {task["id"]}
    assert {line["container_id"] for line in lines} == {task["container_id"]}
    assert keys(lines) == sorted(keys(lines))


async def _read(
    client: httpx.AsyncClient, url: str, n: int, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The first `n` log events of a stream, then the connection dropped."""
    got: list[dict[str, Any]] = []
    async with client.stream("GET", url, headers=headers or {}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        async for ev in events(resp):
            if ev.event == "log":
                got.append({**ev.json, "id": ev.id})
                if len(got) == n:
                    break
            elif ev.event in ("error", "end"):
                raise AssertionError(f"stream stopped: {ev.event} {ev.data}")
    return got


async def test_stream_resumes_without_repeats_or_gaps(
    sw: httpx.AsyncClient, chatty: str, server: LiveServer
) -> None:
    url = f"{server.url}/v1/services/{chatty}/logs/stream"
    async with httpx.AsyncClient(timeout=60) as client:
        first = await _read(client, url, 150)
        second = await _read(client, url, 150, {"Last-Event-ID": first[-1]["id"]})
        third = await _read(client, f"{url}?last_event_id={second[-1]['id']}", 150)
    got = first + second + third
    ks = keys(got)
    assert ks == sorted(ks), "lines out of timestamp order across tasks"
    assert len(set(ks)) == len(ks), "a line came twice"
    assert {line["node_id"] for line in got} == {
        n["id"] for n in (await sw.get("/v1/nodes")).json()
    }
    # No gap: what the three connections gave is exactly the history over that span.
    await asyncio.sleep(1)
    history = (await sw.get(f"/v1/services/{chatty}/logs")).json()
    span = [line for line in history if ks[0] <= parse_id(line["id"]) <= ks[-1]]
    assert [line["id"] for line in span] == [line["id"] for line in got]
    assert [line["line"] for line in span] == [line["line"] for line in got]


async def test_stream_errors(sw: httpx.AsyncClient, chatty: str, server: LiveServer) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.get(f"{server.url}/v1/services/nope/logs/stream")
        assert r.status_code == 404
        assert r.json()["code"] == "service-not-found"
        r = await client.get(
            f"{server.url}/v1/services/{chatty}/logs/stream", headers={"Last-Event-ID": "12-x"}
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["loc"] == ["query", "last_event_id"]
        for value in ("inf", "nan", "1e400"):  # float() reads them: once a 500
            r = await client.get(
                f"{server.url}/v1/services/{chatty}/logs/stream", params={"since": value}
            )
            assert r.status_code == 422, (value, r.text)


async def test_stream_ends_when_the_service_goes(sw: httpx.AsyncClient, server: LiveServer) -> None:
    name = await start_service(sw, "brief", "while true; do echo tick; usleep 100000; done", 1)
    seen: list[str] = []
    url = f"{server.url}/v1/services/{name}/logs/stream"
    async with httpx.AsyncClient(timeout=60) as client, client.stream("GET", url) as resp:
        async for ev in events(resp):
            seen.append(ev.event)
            if ev.event == "log" and seen.count("log") == 3:
                assert (await sw.delete(f"/v1/services/{name}")).status_code == 204
            if ev.event in ("end", "error"):
                assert ev.event == "end", ev.data
                assert ev.json == {"reason": "removed"}
                break
    assert seen.count("log") >= 3


def hubs_opened(server: LiveServer) -> int:
    """Service log follows opened since the server started (from /metrics)."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.search(
        r'^moorage_stream_hubs_opened_total\{kind="service_logs"\} (\S+)$', text, re.M
    )
    return int(float(found.group(1))) if found else 0


async def test_clients_share_one_follow_and_resume_exactly(
    sw: httpx.AsyncClient, chatty: str, server: LiveServer
) -> None:
    """Five clients of one service: one engine follow (the hub opened once, the
    connections held do not grow with the clients), each gets the same lines; a client
    that resumes while the others keep the hub open continues exactly."""
    assert server.proc is not None
    pid, url = server.proc.pid, f"{server.url}/v1/services/{chatty}/logs/stream"
    n_clients = 5
    opened = hubs_opened(server)
    gate = asyncio.Event()
    # Each client reads on until a line stamped after this (set with the gate): every
    # one then holds the lines from the last one's start to it.
    stop_at: list[int] = []
    started = [asyncio.Event() for _ in range(n_clients)]

    async def client(i: int, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        async with (
            httpx.AsyncClient(timeout=60) as c,
            c.stream("GET", url, params={"tail": "0"}, headers=headers or {}) as resp,
        ):
            assert resp.status_code == 200
            async for ev in events(resp):
                if ev.event in ("error", "end"):
                    raise AssertionError(f"stream stopped: {ev.event} {ev.data}")
                if ev.event == "log":
                    started[i].set()
                    await gate.wait()  # every client holds its connection while counted
                    got.append({**ev.json, "id": ev.id})
                    if parse_id(ev.id or "")[0] > stop_at[0]:
                        break
        return got

    first = asyncio.create_task(client(0))
    await started[0].wait()
    one = await asyncio.to_thread(held_sockets, pid, server.url)
    others = [asyncio.create_task(client(i)) for i in range(1, n_clients)]
    await asyncio.gather(*(s.wait() for s in started))
    # One follow for all five: the count settles at the one client's (a read of the
    # tasks or the hub's start may be under way in a sample).
    assert await asyncio.to_thread(
        wait_for, lambda: held_sockets(pid, server.url) <= one + 1, 30
    ), (one, held_sockets(pid, server.url))
    assert hubs_opened(server) == opened + 1
    stop_at.append(time.time_ns() + 1_000_000_000)
    gate.set()
    results = await asyncio.gather(first, *others)
    for got in results:
        ks = keys(got)
        assert ks == sorted(ks)
        assert len(set(ks)) == len(ks)
    # Every client saw the same stream from where its own began.
    common = set.intersection(*(set(line["id"] for line in got) for got in results))
    assert len(common) > 50
    for got in results[1:]:
        mine = [line["id"] for line in got if line["id"] in common]
        assert mine == [line["id"] for line in results[0] if line["id"] in common]

    # A resume while another client keeps the hub open: from the hub's buffer, exactly.
    gate.clear()
    stop_at.clear()
    started[0].clear()
    holder = asyncio.create_task(client(0))
    await started[0].wait()
    async with httpx.AsyncClient(timeout=60) as c:
        part1 = await _read(c, url, 100)
        part2 = await _read(c, url, 100, {"Last-Event-ID": part1[-1]["id"]})
    stop_at.append(time.time_ns())
    gate.set()
    await holder
    got = part1 + part2
    assert hubs_opened(server) == opened + 2  # the holder's hub served both reads
    await asyncio.sleep(1)
    history = (await sw.get(f"/v1/services/{chatty}/logs")).json()
    ks = keys(got)
    span = [line for line in history if ks[0] <= parse_id(line["id"]) <= ks[-1]]
    assert [line["id"] for line in span] == [line["id"] for line in got]
