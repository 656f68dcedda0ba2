"""Log stream subscribers that join a followed container take their history from the
hub's buffer (no engine read), in order, with no gap and no repeat at the seam; and
from the engine when the buffer does not reach back far enough.

Where a history came from is read from /metrics (`moorage_stream_histories_total`,
`moorage_stream_hubs_opened_total`): exact counts, not socket samples."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer, docker
from tests.sse import Event, events, run_container

pytestmark = pytest.mark.engine

HISTORY = 3_000  # stdout n1..n3000; every 100th line also e<i> on stderr
ALL = HISTORY + HISTORY // 100  # lines before /tmp/go
LIVE = 50  # then, on /tmp/go, m1..m50 on stdout, and the container exits
SCRIPT = (
    f"i=1; while [ $i -le {HISTORY} ]; do echo n$i; "
    "[ $((i % 100)) -eq 0 ] && echo e$i >&2; i=$((i+1)); done; "
    "while [ ! -f /tmp/go ]; do sleep 0.05; done; "
    f"i=1; while [ $i -le {LIVE} ]; do echo m$i; i=$((i+1)); done"
)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    # Containers younger than a minute are followed from their first line.
    s = LiveServer({"MOORAGE_STREAM_LOGS_LOOK_BACK": "60"}).start(wait_ready=True)
    yield s
    s.stop()


def counters(server: LiveServer) -> dict[str, float]:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.findall(r'^(moorage_stream_\w+_total\{kind="logs"[^}]*\}) (\S+)$', text, re.M)
    return {name: float(v) for name, v in found}


def metric_lines(server: LiveServer) -> list[str]:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return [line for line in text.splitlines() if "stream" in line or "engine" in line]


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    out = {}
    for name, v in after.items():
        short = name.removeprefix("moorage_stream_").replace('{kind="logs"', "{")
        if v - before.get(name, 0.0):
            out[short] = v - before.get(name, 0.0)
    return out


async def collect(
    url: str, ready: asyncio.Event, expect: int, headers: dict[str, str] | None = None
) -> list[Event]:
    """Every event to the stream's end; `ready` is set once `expect` lines arrived
    (its whole history: by count, since stdout and stderr lines interleave in the log
    as the engine happened to read the two pipes)."""
    out: list[Event] = []
    try:
        async with (
            httpx.AsyncClient(timeout=120) as c,
            c.stream("GET", url, headers=headers or {}) as resp,
        ):
            assert resp.status_code == 200, await resp.aread()
            async for ev in events(resp):
                out.append(ev)
                if ev.event == "log" and len(out) >= expect:
                    ready.set()
                if ev.event in ("end", "error"):
                    break
    finally:
        ready.set()
    return out


def lines(evs: list[Event]) -> list[tuple[str, str]]:
    return [(e.json["stream"], e.json["line"]) for e in evs if e.event == "log"]


async def wait_all(readies: list[asyncio.Event], server: LiveServer) -> None:
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
    except TimeoutError:
        waiting = [i for i, r in enumerate(readies) if not r.is_set()]
        streams = metric_lines(server)
        raise AssertionError(
            f"subscribers {waiting} never got their whole history; "
            f"{streams}; {server.log.read_text()[-3000:]}"
        ) from None


async def test_late_subscribers_take_history_from_the_buffer(server, name):
    cid = run_container(name, SCRIPT)
    url = f"{server.url}/v1/containers/{name}/logs/stream"
    first_ready = asyncio.Event()
    holder = asyncio.create_task(collect(url, first_ready, ALL))
    await asyncio.wait_for(first_ready.wait(), 120)
    before = counters(server)

    n_late = 20
    readies = [asyncio.Event() for _ in range(n_late + 3)]
    late = [asyncio.create_task(collect(url, readies[i], ALL)) for i in range(n_late)]
    tail = asyncio.create_task(collect(url + "?tail=10", readies[n_late], 10))
    only_out = asyncio.create_task(collect(url + "?stderr=false", readies[n_late + 1], HISTORY))
    # A resume after the 1,500th event of another subscriber, by header.
    prefix: list[Event] = []
    async with httpx.AsyncClient(timeout=120) as c, c.stream("GET", url) as resp:
        async for ev in events(resp):
            prefix.append(ev)
            if len(prefix) == 1_500:
                break
    resumed = asyncio.create_task(
        collect(url, readies[n_late + 2], ALL - 1_500, {"Last-Event-ID": prefix[-1].id or ""})
    )
    await wait_all(readies, server)
    # Every one of them (and the prefix's subscriber) was served from memory.
    assert delta(before, counters(server)) == {'histories_total{,source="buffer"}': n_late + 4}

    docker("exec", cid, "touch", "/tmp/go")
    got = await asyncio.wait_for(holder, 120)
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
        evs = await asyncio.wait_for(task, 120)
        assert [e.id for e in evs if e.event == "log"] == ids  # every line, same order
        assert lines(evs) == everything
        assert evs[-1].event == "end"
    history = HISTORY + HISTORY // 100
    assert lines(await tail) == everything[history - 10 :]
    assert lines(await only_out) == [(s, x) for s, x in everything if s == "stdout"]
    assert lines(prefix) + lines(await resumed) == everything


async def test_a_tail_opens_the_follow_and_serves_smaller_tails(server, name):
    cid = run_container(name, SCRIPT)
    url = f"{server.url}/v1/containers/{name}/logs/stream"
    before = counters(server)
    readies = [asyncio.Event() for _ in range(4)]
    opener = asyncio.create_task(collect(url + "?tail=100", readies[0], 100))
    await readies[0].wait()
    smaller = asyncio.create_task(collect(url + "?tail=30", readies[1], 30))
    larger = asyncio.create_task(collect(url + "?tail=200", readies[2], 200))
    whole = asyncio.create_task(collect(url + "?tail=all", readies[3], ALL))
    await wait_all(readies, server)
    # The follow starts at the opener's tail; a smaller tail is in the buffer, a
    # larger one and the whole log are not.
    assert delta(before, counters(server)) == {
        "hubs_opened_total{}": 1,
        'histories_total{,source="follow"}': 1,
        'histories_total{,source="buffer"}': 1,
        'histories_total{,source="engine"}': 2,
    }

    docker("exec", cid, "touch", "/tmp/go")
    got = await opener
    everything = lines(got)
    history = HISTORY + HISTORY // 100
    assert len(everything) == 100 + LIVE
    full = lines(await whole)
    assert len(full) == history + LIVE
    assert full[-len(everything) :] == everything
    assert lines(await smaller) == full[history - 30 :]
    assert lines(await larger) == full[history - 200 :]


async def test_a_buffer_that_forgot_the_start_sends_subscribers_to_the_engine(name):
    cid = run_container(name, SCRIPT)
    env = {"MOORAGE_STREAM_LOGS_LOOK_BACK": "60", "MOORAGE_STREAM_LOGS_BUFFER_BYTES": "65536"}
    small = LiveServer(env).start(wait_ready=True)
    try:
        url = f"{small.url}/v1/containers/{name}/logs/stream"
        readies = [asyncio.Event() for _ in range(5)]
        opener = asyncio.create_task(collect(url, readies[0], ALL))
        await readies[0].wait()
        before = counters(small)
        early = asyncio.create_task(collect(url, readies[1], ALL))  # the whole log
        tail = asyncio.create_task(collect(url + "?tail=10", readies[2], 10))
        opened: list[Event] = []
        async with httpx.AsyncClient(timeout=120) as c, c.stream("GET", url) as resp:
            async for ev in events(resp):
                opened.append(ev)
                if len(opened) == HISTORY:  # near the end: in what the buffer holds
                    break
        recent = asyncio.create_task(
            collect(url, readies[3], ALL - HISTORY, {"Last-Event-ID": opened[-1].id or ""})
        )
        old = asyncio.create_task(  # from the 5th line: long gone from the buffer
            collect(url, readies[4], ALL - 5, {"Last-Event-ID": opened[4].id or ""})
        )
        await wait_all(readies, small)
        got = delta(before, counters(small))
        engine = got.get('histories_total{,source="engine"}', 0)
        buffer = got.get('histories_total{,source="buffer"}', 0)
        assert engine + buffer == 5, got
        # early, the 3,000-line reader and old cannot be served by the buffer; tail and
        # recent are, unless the buffer is not yet at the live edge when they come (seen
        # on a loaded machine: they then read the engine, which is also right — the
        # lines are compared below either way). Then a later tail is served by it.
        assert engine >= 3, got
        later: list[asyncio.Task[list[Event]]] = []
        while buffer == 0 and len(later) < 20:
            await asyncio.sleep(0.5)
            ready = asyncio.Event()
            later.append(asyncio.create_task(collect(url + "?tail=10", ready, 10)))
            await wait_all([ready], small)
            buffer = delta(before, counters(small)).get('histories_total{,source="buffer"}', 0)
        assert buffer >= 1, got
        docker("exec", cid, "touch", "/tmp/go")
        everything = lines(await opener)
        assert len(everything) == HISTORY + HISTORY // 100 + LIVE
        assert lines(await early) == everything
        assert lines(await tail) == everything[-(10 + LIVE) :]
        assert lines(opened) + lines(await recent) == everything
        assert lines(opened[:5]) + lines(await old) == everything
        for task in later:
            assert lines(await task) == everything[-(10 + LIVE) :]
    finally:
        small.stop()
