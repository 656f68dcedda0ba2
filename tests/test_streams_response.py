"""app/streams.py `SSEStream`, the SSE response, driven as a plain ASGI app (no server,
no engine): one task per open stream, disconnects, pings, shutdown and engine loss
watched by one shared task each."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sse_starlette.sse import AppStatus

from app.services.events import EventBus
from app.settings import Settings
from app.streams import SSEStream, Watch, encode, sse_response

SCOPE = {"type": "http", "method": "GET", "path": "/x", "headers": []}


@pytest.fixture(autouse=True)
def _no_shutdown_poller() -> Iterator[None]:
    """sse-starlette's per-thread shutdown poller must not outlive the test's loop."""
    AppStatus.should_exit = False
    yield
    AppStatus.should_exit = False


async def _stop_poller() -> None:
    for task in asyncio.all_tasks():
        if getattr(task.get_coro(), "__name__", "") == "_shutdown_watcher":
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Client:
    """One ASGI connection: what the response sent, and a disconnect to send it."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = asyncio.Event()
        self.closed = False  # the body's finally ran

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])

    @property
    def ended(self) -> bool:
        return bool(self.sent) and self.sent[-1].get("more_body") is False

    async def silent(self) -> AsyncIterator[bytes]:
        try:
            yield encode("log", {"line": "first"})
            await asyncio.Event().wait()
            yield b"never"
        finally:
            self.closed = True


def _open(
    client: Client, settings: Settings, engine_lost: Any = None
) -> tuple[SSEStream, asyncio.Task[None]]:
    response = sse_response(client.silent(), settings, engine_lost=engine_lost)
    task = asyncio.create_task(response(SCOPE, client.receive, client.send))  # type: ignore[arg-type]
    return response, task


async def _until(cond: Any) -> None:
    async with asyncio.timeout(10):
        while not cond():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def _stream_tasks(responses: list[SSEStream]) -> set[asyncio.Task[Any]]:
    """The live tasks working for these responses, and the shared watchers (sse-starlette's
    poller, `Watch`es). The loop is the session's: the in-process app of other tests
    runs its own tasks in it (state refreshes of other suites' containers, shared
    engine calls), which come and go and are no stream's."""
    out = set()
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        frame = getattr(coro, "cr_frame", None)
        owner = frame.f_locals.get("self") if frame is not None else None
        if (
            any(owner is r for r in responses)
            or isinstance(owner, Watch)
            or getattr(coro, "__name__", "") == "_shutdown_watcher"
        ):
            out.add(task)
    return out


async def test_one_task_per_stream_and_disconnect_closes_the_body() -> None:
    settings = Settings(sse_ping_interval=30)
    bus = EventBus(engine=None)  # type: ignore[arg-type]
    shared_before = _stream_tasks([])
    clients = [Client() for _ in range(20)]
    opened = [_open(c, settings, bus.watch_disconnect) for c in clients]
    responses, calls = [r for r, _ in opened], {t for _, t in opened}
    await _until(lambda: all(b"first" in c.body for c in clients))
    extra = len(_stream_tasks(responses) - shared_before - calls)  # besides the ASGI calls
    # One disconnect listener each, one shared shutdown watcher (plus sse-starlette's
    # own poller), one shared engine watcher: not six tasks a stream.
    assert extra <= len(clients) + 3
    for c in clients:
        c.gone.set()
    async with asyncio.timeout(10):
        await asyncio.gather(*(t for _, t in opened))
    assert all(c.closed for c in clients)  # the upstream released at once
    await _stop_poller()
    assert _stream_tasks(responses) - shared_before == set()  # no watcher left behind
    assert len(bus._disconnect_watchers) <= 1  # the shared watcher's event, if any


async def test_pings_retry_first_and_the_end() -> None:
    client = Client()
    settings = Settings(sse_ping_interval=0.05, sse_retry_ms=1234, sse_max_lifetime=60)
    _, task = _open(client, settings)
    await _until(lambda: client.body.count(b": ping") >= 2)
    assert client.sent[0]["type"] == "http.response.start"
    assert client.body.startswith(b"retry: 1234\n\n")
    client.gone.set()
    async with asyncio.timeout(10):
        await task
    await _stop_poller()


async def test_shutdown_ends_every_stream_with_its_goodbye() -> None:
    settings = Settings(sse_ping_interval=30)
    clients = [Client() for _ in range(3)]
    opened = [_open(c, settings) for c in clients]
    await _until(lambda: all(b"first" in c.body for c in clients))
    AppStatus.should_exit = True  # what uvicorn's SIGTERM handler sets
    async with asyncio.timeout(10):
        await asyncio.gather(*(t for _, t in opened))
    for c in clients:
        assert c.body.endswith(b'event: end\ndata: {"reason":"shutdown"}\n\n')
        assert c.ended
        assert c.closed
    # A stream opened during the shutdown ends at once, too.
    late = Client()
    _, task = _open(late, settings)
    async with asyncio.timeout(10):
        await task
    assert late.body.endswith(b'event: end\ndata: {"reason":"shutdown"}\n\n')


async def test_engine_lost_ends_the_streams_open_then_only() -> None:
    settings = Settings(sse_ping_interval=30, sse_retry_ms=250)
    bus = EventBus(engine=None)  # type: ignore[arg-type]
    clients = [Client() for _ in range(3)]
    opened = [_open(c, settings, bus.watch_disconnect) for c in clients]
    await _until(lambda: all(b"first" in c.body for c in clients))
    bus._disconnected()
    # Opened after the loss (before the watcher woke): waits for the next one.
    late = Client()
    _, late_task = _open(late, settings, bus.watch_disconnect)
    async with asyncio.timeout(10):
        await asyncio.gather(*(t for _, t in opened))
    for c in clients:
        assert b"retry: 250\n\nevent: error\n" in c.body
        assert b'"code":"engine-unavailable"' in c.body
        assert c.closed
    await _until(lambda: b"first" in late.body)
    assert not late_task.done()
    bus._disconnected()  # the next loss ends it
    async with asyncio.timeout(10):
        await late_task
    assert b'"code":"engine-unavailable"' in late.body
    await _stop_poller()


async def test_watch_fires_members_of_its_generation() -> None:
    fired: list[str] = []
    events: list[asyncio.Event] = []

    def arm() -> asyncio.Event:
        events.append(asyncio.Event())
        return events[-1]

    watch: Watch[str] = Watch(fired.append, "test", arm=arm)
    watch.join("a")
    events[-1].set()
    watch.join("b")  # after the signal, before the watcher woke
    await _until(lambda: fired == ["a"])
    assert len(events) == 2  # re-armed for "b"
    events[-1].set()
    await _until(lambda: fired == ["a", "b"])
    watch.join("c")
    watch.leave("c")
    assert watch.idle
    assert watch._task is None
