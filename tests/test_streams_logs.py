"""GET /v1/containers/{id}/logs/stream against a real uvicorn and engine."""

from __future__ import annotations

import asyncio
import re
import socket
import time

import httpx
import pytest

from tests.conftest import LiveServer, docker
from tests.sse import Event, events, held_sockets, run_container, unix_sockets

pytestmark = pytest.mark.engine


async def collect(
    url: str, *, headers: dict[str, str] | None = None, until_end: bool = True, limit: int = 0
) -> list[Event]:
    out: list[Event] = []
    async with (
        httpx.AsyncClient(timeout=60) as c,
        c.stream("GET", url, headers=headers or {}) as resp,
    ):
        assert resp.status_code == 200, await resp.aread()
        async for ev in events(resp):
            out.append(ev)
            if ev.event in ("end", "error") or (limit and len(out) >= limit):
                break
    return out


async def test_follow_keeps_streams_apart_and_ends_with_exit_code(live_server, name):
    cid = run_container(
        name,
        "echo out1; echo err1 >&2; while [ ! -f /tmp/go ]; do sleep 0.05; done; "
        "echo out2; echo err2 >&2; exit 3",
    )
    url = f"{live_server.url}/v1/containers/{name}/logs/stream"
    task = asyncio.create_task(collect(url))
    first = await collect(url, limit=2)  # history is in: the hub is live
    assert {(e.json["stream"], e.json["line"]) for e in first} == {
        ("stdout", "out1"),
        ("stderr", "err1"),
    }
    docker("exec", cid, "touch", "/tmp/go")
    got = await task
    logs = [(e.json["stream"], e.json["line"]) for e in got if e.event == "log"]
    assert sorted(logs) == sorted(
        [("stdout", "out1"), ("stderr", "err1"), ("stdout", "out2"), ("stderr", "err2")]
    )
    assert got[-1].event == "end"
    assert got[-1].json == {"reason": "exited", "exit_code": 3}
    ids = [e.id for e in got if e.event == "log"]
    assert all(i and "-" in i for i in ids)
    assert len(set(ids)) == 4
    only_err = await collect(url + "?stdout=false")
    assert [e.json["line"] for e in only_err if e.event == "log"] == ["err1", "err2"]


async def test_unknown_container_is_a_problem(live_server):
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.get(f"{live_server.url}/v1/containers/mt-no-such-container/logs/stream")
    assert r.status_code == 404
    assert r.json()["code"] == "container-not-found"


BURST = 10_000


async def test_resume_mid_burst_without_gap_or_repeat(live_server, name):
    cid = run_container(
        name,
        "while [ ! -f /tmp/go ]; do sleep 0.05; done; "
        f"i=1; while [ $i -le {BURST} ]; do echo line$i; i=$((i+1)); done; "
        "while [ ! -f /tmp/stop ]; do sleep 0.05; done",
    )
    url = f"{live_server.url}/v1/containers/{name}/logs/stream"
    lines: list[str] = []
    ids: list[str] = []

    async def part(headers: dict[str, str] | None, query: str, limit: int) -> None:
        async with (
            httpx.AsyncClient(timeout=60) as c,
            c.stream("GET", url + query, headers=headers or {}) as resp,
        ):
            async for ev in events(resp):
                assert ev.event == "log", ev
                lines.append(ev.json["line"])
                assert ev.id is not None
                ids.append(ev.id)
                if len(lines) >= limit:
                    return

    docker("exec", cid, "touch", "/tmp/go")
    await part(None, "", 2_500)  # first part, cut in the middle of the burst
    await part({"Last-Event-ID": ids[-1]}, "", 6_000)  # resume by header
    await part(None, f"?last_event_id={ids[-1]}", BURST)  # resume by query
    docker("exec", cid, "touch", "/tmp/stop")
    assert lines == [f"line{i}" for i in range(1, BURST + 1)]
    assert len(set(ids)) == BURST


async def test_fifty_subscribers_share_one_engine_connection(live_server, name):
    n_subs, n_lines = 50, 200
    cid = run_container(
        name,
        "while [ ! -f /tmp/go ]; do echo tick; sleep 0.1; done; "
        f"i=1; while [ $i -le {n_lines} ]; do echo n$i; i=$((i+1)); done",
    )
    url = f"{live_server.url}/v1/containers/{name}/logs/stream?tail=0"
    assert live_server.proc is not None
    pid = live_server.proc.pid
    subscribed = [asyncio.Event() for _ in range(n_subs)]
    counts: list[int] = []

    async def subscriber(i: int) -> list[str]:
        got: list[str] = []
        async with (
            httpx.AsyncClient(timeout=60) as c,
            c.stream("GET", url) as resp,
        ):
            async for ev in events(resp):
                if ev.event == "end":
                    return got
                subscribed[i].set()
                if ev.json["line"] != "tick":
                    got.append(ev.json["line"])
        return got

    opened = hubs_opened(live_server)
    tasks = [asyncio.create_task(subscriber(0))]
    await subscribed[0].wait()
    one = held_sockets(pid, live_server.url)
    for i in range(1, n_subs):
        tasks.append(asyncio.create_task(subscriber(i)))
    await asyncio.gather(*(s.wait() for s in subscribed))
    counts.append(held_sockets(pid, live_server.url))
    docker("exec", cid, "touch", "/tmp/go")
    results = await asyncio.gather(*tasks)
    expected = [f"n{i}" for i in range(1, n_lines + 1)]
    assert all(r == expected for r in results)
    # One shared follow: the hub was opened once, for the first of the 50 viewers.
    assert hubs_opened(live_server) == opened + 1
    # Connections held, sampled: a short call (inspect) of other work may be under way
    # in each sample.
    assert counts[0] <= one + 3, (one, counts)


def hubs_opened(server: LiveServer) -> int:
    """Engine log follows opened since the server started (from /metrics)."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.search(r'^moorage_stream_hubs_opened_total\{kind="logs"\} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


def _raw_stream(port: int, path: str) -> socket.socket:
    """A client that reads nothing: a tiny receive window, so the server's buffers fill."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
    return s


async def test_slow_consumer_is_cut_off_others_keep_pace(name):
    n_lines = 6_000
    server = LiveServer(env={"MOORAGE_SSE_QUEUE_SIZE": "50"}).start()
    slow: socket.socket | None = None
    try:
        cid = run_container(
            name,
            "L=$(head -c 2000 /dev/zero | tr '\\0' x); "
            "while [ ! -f /tmp/go ]; do echo tick; sleep 0.1; done; "
            f"i=1; while [ $i -le {n_lines} ]; do echo $i$L; i=$((i+1)); done; sleep 1",
        )
        path = f"/v1/containers/{name}/logs/stream?tail=0"
        slow = await asyncio.to_thread(_raw_stream, server.port, path)
        body = bytearray()
        async with (
            httpx.AsyncClient(timeout=60) as c,
            c.stream("GET", server.url + path) as resp,
        ):
            started = False
            # Keep raw bytes (no parsing while reading): this client keeps up.
            async for chunk in resp.aiter_raw():
                window = bytes(body[-64:]) + chunk
                body += chunk
                if not started and b'"line":"tick"' in window:
                    started = True
                    await asyncio.to_thread(docker, "exec", cid, "touch", "/tmp/go")
                if b"event: end\n" in window or b"event: error\n" in window:
                    break
        assert b"event: end\n" in body[-300:], bytes(body[-300:])
        fast_count = body.count(b"event: log\n") - body.count(b'"line":"tick"')
        assert fast_count == n_lines

        def read_slow() -> bytes:
            slow.settimeout(20)
            data = b""
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                chunk = slow.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
                if b"event: error" in data[-4096:] and data.endswith(b"\n\n"):
                    break
            return data

        assert slow is not None
        data = await asyncio.to_thread(read_slow)
        assert b"event: error" in data
        assert b'"code":"slow-consumer"' in data
        assert data.count(b"event: log") < n_lines
    finally:
        if slow is not None:
            slow.close()
        server.stop()


async def test_engine_connection_released_when_client_leaves(live_server, name):
    run_container(name, "while true; do echo x; sleep 0.2; done")
    assert live_server.proc is not None
    pid = live_server.proc.pid
    before = unix_sockets(pid)
    url = f"{live_server.url}/v1/containers/{name}/logs/stream?tail=0"
    async with (
        httpx.AsyncClient(timeout=60) as c,
        c.stream("GET", url) as resp,
    ):
        async for _ in events(resp):
            break
        during = unix_sockets(pid)  # the shared follow connection is open
    # Once the client is gone, the follow connection goes within seconds.
    deadline = time.monotonic() + 30  # (under load, and beside the host prober's own calls)
    while unix_sockets(pid) >= during and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    assert unix_sockets(pid) < during
    assert unix_sockets(pid) <= before + 1  # at most an idle pooled connection


async def test_removed_container_ends_the_stream(live_server, name):
    cid = run_container(name, "echo hi; sleep 300")
    url = f"{live_server.url}/v1/containers/{name}/logs/stream"
    got: list[Event] = []
    async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", url) as resp:
        async for ev in events(resp):
            got.append(ev)
            if ev.event == "log":
                await asyncio.to_thread(docker, "rm", "-f", cid)
            if ev.event == "end":
                break
    assert [e.event for e in got] == ["log", "end"]
    assert got[-1].json["reason"] in ("removed", "exited")  # rm -f kills, then removes


async def test_a_line_over_16k_is_one_event_without_inner_stamps(live_server, name):
    # The engine stores this line as three partial messages, each with its stamp.
    size = 40_000
    cid = run_container(
        name,
        "while [ ! -f /tmp/go ]; do sleep 0.05; done; echo before; "
        f"head -c {size} /dev/zero | tr '\\0' a; echo; echo after; "
        "while [ ! -f /tmp/stop ]; do sleep 0.05; done",
    )
    url = f"{live_server.url}/v1/containers/{name}/logs/stream"
    got: list[Event] = []
    async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", url) as resp:
        await asyncio.to_thread(docker, "exec", cid, "touch", "/tmp/go")
        async for ev in events(resp):
            got.append(ev)
            if ev.json.get("line") == "after":
                break
    docker("exec", cid, "touch", "/tmp/stop")
    assert [e.event for e in got] == ["log"] * 3
    assert [e.json["line"] for e in got] == ["before", "a" * size, "after"]
    assert len({e.id for e in got}) == 3


async def test_tty_container_lines(live_server, name):
    run_container(name, "echo one; echo two >&2; exit 0", "-t")
    url = f"{live_server.url}/v1/containers/{name}/logs/stream"
    got = await collect(url)
    logs = [e.json for e in got if e.event == "log"]
    assert [(x["stream"], x["line"]) for x in logs] == [("stdout", "one"), ("stdout", "two")]
    assert all(x["ts"].endswith("Z") for x in logs)
    assert got[-1].event == "end"
