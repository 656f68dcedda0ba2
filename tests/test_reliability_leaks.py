"""Leaks: after 10,000 requests and 1,000 stream open/close cycles, open file
descriptors and engine connections are back at their baseline and memory is within
10 MB of where it settled.

A real uvicorn against the PRIVATE engine (so that every connection on its socket is
moorage's). The stream cycles run once /v1/events exists.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

import httpx
import pytest

from tests.conftest import LiveServer
from tests.engine_harness import (
    PrivateEngine,
    private_engine,
    process_fds,
    process_rss,
    route_exists,
)

__all__ = ["private_engine"]

pytestmark = [pytest.mark.engine, pytest.mark.slow]

REQUESTS = 10_000
STREAM_CYCLES = 1_000
CONCURRENCY = 16
MB = 1 << 20

# Engine calls, probes, errors (404, 405, 422 on a bad query, 413/400 on bodies).
REQUEST_MIX: list[tuple[str, str, bytes | None]] = [
    ("GET", "/v1/system/ping", None),
    ("GET", "/v1/system/version", None),
    ("GET", "/v1/system/info", None),
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/v1/no/such/route", None),
    ("DELETE", "/healthz", None),
    ("POST", "/v1/containers", b"{not json"),
]


async def run_requests(url: str, count: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    mix = itertools.cycle(REQUEST_MIX)
    remaining = count
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                method, path, body = next(mix)
                headers = {"content-type": "application/json"} if body else None
                r = await http.request(method, path, content=body, headers=headers)
                statuses[r.status_code] += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return statuses


async def run_stream_cycles(url: str, count: int) -> int:
    """Open a stream, read its headers, close it; `count` times, 10 at a time."""
    done = 0
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def one() -> None:
            nonlocal done
            async with http.stream("GET", "/v1/events") as r:
                assert r.status_code == 200
                assert r.headers["content-type"].startswith("text/event-stream")
            done += 1

        for _ in range(count // 10):
            await asyncio.gather(*(one() for _ in range(10)))
    return done


async def settle(pid: int, engine: PrivateEngine) -> tuple[int, int, int]:
    """fds, engine connections, RSS once they stop moving."""
    last = (-1, -1, -1)
    for _ in range(40):
        now = (process_fds(pid), engine.connections(), process_rss(pid))
        if now[:2] == last[:2] and abs(now[2] - last[2]) < MB // 4:
            return now
        last = now
        await asyncio.sleep(0.25)
    return last


async def test_no_leaks_after_ten_thousand_requests(private_engine: PrivateEngine) -> None:
    server = LiveServer(env={"MOORAGE_DOCKER_HOST": private_engine.url}).start(wait_ready=True)
    try:
        assert server.proc is not None
        pid = server.proc.pid
        has_streams = await asyncio.to_thread(route_exists, server.url, "GET", "/v1/events")
        # Warm up with the same concurrency (pools, caches, allocator arenas), then settle.
        await run_requests(server.url, 1_000)
        if has_streams:
            await run_stream_cycles(server.url, 100)
        fds0, conns0, rss0 = await settle(pid, private_engine)

        statuses = await run_requests(server.url, REQUESTS)
        assert sum(statuses.values()) == REQUESTS
        assert 500 not in statuses, statuses
        assert statuses[200] > REQUESTS // 2, statuses
        cycles = await run_stream_cycles(server.url, STREAM_CYCLES) if has_streams else 0

        fds1, conns1, rss1 = await settle(pid, private_engine)
        print(
            f"\nleaks: {REQUESTS} requests {dict(statuses)}, {cycles} stream cycles; "
            f"fds {fds0}→{fds1}, engine connections {conns0}→{conns1}, "
            f"RSS {rss0 / MB:.1f}→{rss1 / MB:.1f} MB"
        )
        # Idle keep-alive engine connections come and go with the pool (each is an fd
        # too): every other fd is back at its baseline, and the engine connections
        # stay within what the load's concurrency (plus the event reader) can hold.
        assert fds1 - conns1 <= fds0 - conns0 + 2, (fds0, conns0, fds1, conns1)
        assert conns1 <= CONCURRENCY + 1 + 2, (conns0, conns1)
        assert rss1 - rss0 < 10 * MB, (rss0, rss1)
        assert server.proc.poll() is None
    finally:
        server.stop()
