"""Catch-up from the logs hub's buffer: subscribers that join a followed container
get its history from memory (no engine read), in order, without gap or repeat."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from tests.conftest import docker
from tests.sse import Event, events, run_container, unix_sockets

pytestmark = pytest.mark.engine

HISTORY = 3_000  # stdout lines n1..n3000; every 100th also e<i> on stderr
LIVE = 50  # then m1..m50 on stdout, and the container exits


async def collect(url: str, headers: dict[str, str] | None = None, *, ready: asyncio.Event,
                  ready_line: str = f"n{HISTORY}") -> list[Event]:  # fmt: skip
    out: list[Event] = []
    async with (
        httpx.AsyncClient(timeout=60) as c,
        c.stream("GET", url, headers=headers or {}) as resp,
    ):
        assert resp.status_code == 200, await resp.aread()
        async for ev in events(resp):
            out.append(ev)
            if ev.event == "log" and ev.json["line"] == ready_line:
                ready.set()
            if ev.event in ("end", "error"):
                break
    ready.set()
    return out


def lines(evs: list[Event]) -> list[tuple[str, str]]:
    return [(e.json["stream"], e.json["line"]) for e in evs if e.event == "log"]


async def test_late_subscribers_catch_up_from_the_hub_buffer(live_server, name):
    cid = run_container(
        name,
        f"i=1; while [ $i -le {HISTORY} ]; do echo n$i; "
        "[ $((i % 100)) -eq 0 ] && echo e$i >&2; i=$((i+1)); done; "
        "while [ ! -f /tmp/go ]; do sleep 0.05; done; "
        f"i=1; while [ $i -le {LIVE} ]; do echo m$i; i=$((i+1)); done",
    )
    url = f"{live_server.url}/v1/containers/{name}/logs/stream"
    assert live_server.proc is not None
    pid = live_server.proc.pid

    # The first subscriber opens the hub (its follow reads from the first line).
    first_ready = asyncio.Event()
    holder = asyncio.create_task(collect(url, ready=first_ready))
    await asyncio.wait_for(first_ready.wait(), 60)
    one = unix_sockets(pid)  # the shared follow connection is open

    peak = [one]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            peak[0] = max(peak[0], unix_sockets(pid))
            sampling.wait(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        # 30 late subscribers at once, plus a tail, a stream filter and a resume.
        n_late = 30
        readies = [asyncio.Event() for _ in range(n_late + 3)]
        late = [asyncio.create_task(collect(url, ready=readies[i])) for i in range(n_late)]
        tail = asyncio.create_task(collect(url + "?tail=10", ready=readies[n_late]))
        only_out = asyncio.create_task(collect(url + "?stderr=false", ready=readies[n_late + 1]))
        # Resume after the 1,500th line the first subscriber got, by header.
        async with (
            httpx.AsyncClient(timeout=60) as c,
            c.stream("GET", url) as resp,
        ):
            prefix: list[Event] = []
            async for ev in events(resp):
                prefix.append(ev)
                if len(prefix) == 1_500:
                    break
        resumed = asyncio.create_task(
            collect(url, {"Last-Event-ID": prefix[-1].id or ""}, ready=readies[n_late + 2])
        )
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    finally:
        sampling.set()
        sampler.join()
    # Catching up cost no engine connection: the buffer served every history.
    assert peak[0] <= one + 1, (one, peak[0])

    docker("exec", cid, "touch", "/tmp/go")
    got = await asyncio.wait_for(holder, 60)
    everything = lines(got)
    assert got[-1].event == "end"
    assert got[-1].json == {"reason": "exited", "exit_code": 0}
    assert [x for s, x in everything if s == "stdout"] == [
        *(f"n{i}" for i in range(1, HISTORY + 1)),
        *(f"m{i}" for i in range(1, LIVE + 1)),
    ]
    assert [x for s, x in everything if s == "stderr"] == [
        f"e{i}" for i in range(100, HISTORY + 1, 100)
    ]
    ids = [e.id for e in got if e.event == "log"]
    assert len(set(ids)) == len(ids) == HISTORY + HISTORY // 100 + LIVE

    for task in late:
        evs = await asyncio.wait_for(task, 60)
        assert lines(evs) == everything  # every line, in the same order
        assert [e.id for e in evs if e.event == "log"] == ids
        assert evs[-1].event == "end"
    history = HISTORY + HISTORY // 100
    assert lines(await tail) == everything[history - 10 :]
    assert lines(await only_out) == [(s, x) for s, x in everything if s == "stdout"]
    assert lines(prefix) + lines(await resumed) == everything
