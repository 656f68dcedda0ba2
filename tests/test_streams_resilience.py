"""Streams when the server stops or the engine goes away (unit level: the framing and
the events stream's gap reports). The end-to-end runs, with a private engine, are in
tests/test_reliability_restart.py and tests/test_reliability_shutdown.py."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson

from app.services.events import EventBus, EventFilter, event_stream
from app.streams import framed


async def _endless(closed: list[bool]) -> AsyncIterator[bytes]:
    try:
        yield b"first"
        await asyncio.Event().wait()  # silent upstream
        yield b"never"
    finally:
        closed.append(True)


async def _read_until_done(stream: AsyncIterator[bytes], fire: Any) -> list[bytes]:
    out: list[bytes] = []
    async for chunk in stream:
        out.append(chunk)
        if chunk == b"first":
            fire()
    return out


async def test_shutdown_ends_a_silent_stream_with_end_shutdown() -> None:
    closed: list[bool] = []
    shutdown = anyio.Event()
    stream = framed(_endless(closed), retry_ms=100, max_lifetime=60, shutdown=shutdown)
    async with asyncio.timeout(10):
        out = await _read_until_done(stream, shutdown.set)
    assert out[0] == b"retry: 100\n\n"
    assert out[-1] == b'event: end\ndata: {"reason":"shutdown"}\n\n'
    assert closed == [True]  # the upstream is released


async def test_engine_lost_ends_with_error_and_retry_hint() -> None:
    closed: list[bool] = []
    lost = asyncio.Event()
    stream = framed(
        _endless(closed), retry_ms=250, max_lifetime=60, engine_lost=lost, retry_after=7
    )
    async with asyncio.timeout(10):
        out = await _read_until_done(stream, lost.set)
    last = out[-1]
    assert last.startswith(b"retry: 250\n\nevent: error\ndata: ")
    problem = orjson.loads(last.split(b"data: ", 1)[1])
    assert problem["code"] == "engine-unavailable"
    assert problem["status"] == 503
    assert closed == [True]


async def test_shutdown_already_set_ends_after_the_chunk_under_way() -> None:
    async def busy() -> AsyncIterator[bytes]:
        for i in range(1000):
            yield b"%d" % i
            await asyncio.sleep(0)

    shutdown = anyio.Event()
    out: list[bytes] = []
    async with asyncio.timeout(10):
        async for chunk in framed(busy(), retry_ms=1, max_lifetime=60, shutdown=shutdown):
            out.append(chunk)
            if chunk == b"3":
                shutdown.set()
                await asyncio.sleep(0.01)  # the watcher runs
    assert out[-1] == b'event: end\ndata: {"reason":"shutdown"}\n\n'
    assert len(out) < 20


def _ev(tn: int, name: str = "v") -> dict[str, Any]:
    return {"Type": "volume", "Action": "create", "Actor": {"ID": name}, "timeNano": tn}


def _frames(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in data.split(b"\n\n"):
        if not block:
            continue
        fields = dict(line.split(b": ", 1) for line in block.split(b"\n"))
        out.append((fields[b"event"].decode(), orjson.loads(fields[b"data"])))
    return out


async def test_events_stream_reports_the_bus_gap_live_and_on_resume() -> None:
    bus = EventBus(engine=None)  # type: ignore[arg-type]
    bus.journal_from = 0
    for tn in (10, 20):
        bus.journal.append(_ev(tn))
    stream = event_stream(bus, EventFilter(), None, 100)
    reader = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    # The engine restarted: the bus reconnects, cannot replay back to 20.
    bus._publish({"moorage": "disconnected"})
    bus._publish({"moorage": "connected", "resumed_from": 20})
    bus.gaps.append((20, 50))
    bus._publish({"moorage": "gap", "after": 20, "before": 50})
    bus.journal.append(_ev(50))
    bus._publish(_ev(50))
    async with asyncio.timeout(5):
        got = _frames(await reader)
    await stream.aclose()
    assert [e for e, _ in got] == ["gap", "volume"]
    assert got[0][1]["after"] == "20"
    assert got[0][1]["first_available"] == "50"

    # A client that resumes from before the gap hears of it, in order.
    resumed = event_stream(bus, EventFilter(), 10, 100)
    async with asyncio.timeout(5):
        replay = _frames(await anext(resumed))
    await resumed.aclose()
    assert [(e, d.get("time_nano")) for e, d in replay] == [
        ("volume", 20),
        ("gap", None),
        ("volume", 50),
    ]
    # One that resumes after it does not.
    after = event_stream(bus, EventFilter(), 50, 100)
    reader = asyncio.ensure_future(anext(after))
    await asyncio.sleep(0.01)
    assert not reader.done()
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    await after.aclose()


async def test_events_stream_subscribes_before_its_body_starts() -> None:
    """The response's headers go out before its body runs: an event published in
    between (the client acting on the headers) is in the stream, not lost."""
    bus = EventBus(engine=None)  # type: ignore[arg-type]
    stream = event_stream(bus, EventFilter(), None, 100)
    assert len(bus.subscribers) == 1
    bus._publish(_ev(10))
    async with asyncio.timeout(5):
        got = _frames(await anext(stream))
    assert [(e, d["time_nano"]) for e, d in got] == [("volume", 10)]
    await stream.aclose()
    assert len(bus.subscribers) == 0
    # A body that never starts (the client left first) does not stay subscribed.
    event_stream(bus, EventFilter(), None, 100)
    gc.collect()
    assert len(bus.subscribers) == 0


async def test_watch_disconnect_fires_on_the_next_loss_only() -> None:
    bus = EventBus(engine=None)  # type: ignore[arg-type]
    ev = bus.watch_disconnect()
    assert not ev.is_set()
    bus.connected.set()
    bus._disconnected()  # what the reader does when the engine goes
    assert ev.is_set()
    assert not bus.watch_disconnect().is_set()  # a new stream waits for the next loss
    del ev
    assert len(bus._disconnect_watchers) == 0  # held weakly: gone with its stream


async def test_a_body_timeout_is_a_problem_not_the_lifetime_end() -> None:
    async def slow_engine() -> AsyncIterator[bytes]:
        yield b"first"
        raise TimeoutError

    out = [c async for c in framed(slow_engine(), retry_ms=1, max_lifetime=60, instance="/x")]
    assert out[-1].startswith(b"event: error\ndata: ")
    problem = orjson.loads(out[-1].split(b"data: ", 1)[1])
    assert (problem["code"], problem["instance"]) == ("timeout", "/x")
