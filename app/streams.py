"""SSE plumbing: event encoding and ids, resume points, bounded subscribers, fan-out
hubs, and the response wrapper (retry hint, keep-alive, maximum lifetime).

    Subscriber    one client's bounded queue; overflow cuts it off (slow-consumer)
    Hub           one upstream (an engine connection, a bus subscription) shared by
                  every subscriber of the same (kind, key); opened with the first
                  subscriber, closed after the last one leaves
    HubRegistry   the hubs of one app, keyed by (kind, key)
    sse_response  an EventSourceResponse around a body of pre-encoded events

Events are encoded once (`encode`) and the same bytes go to every subscriber; a
subscriber drains everything queued at once and writes it as one chunk, so a burst
costs one write per batch, not one per line, while each event keeps its own id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import Counter, deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Mapping,
)
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

import anyio
import orjson
from fastapi import Request
from pydantic import BaseModel
from sse_starlette.event import ServerSentEvent, ensure_bytes
from sse_starlette.sse import EventSourceResponse
from starlette.types import Receive, Scope, Send

from app import errors
from app.settings import Settings

log = logging.getLogger("moorage.streams")

SSE_MEDIA_TYPE = "text/event-stream"


# ---------------------------------------------------------------------------
# Encoding


def encode(event: str, data: Any, id: str | None = None) -> bytes:
    """One SSE event. `data` is JSON-encoded (one line: orjson never emits newlines)."""
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    head = f"id: {id}\nevent: {event}\n" if id is not None else f"event: {event}\n"
    return head.encode() + b"data: " + payload + b"\n\n"


def encode_retry(retry_ms: int) -> bytes:
    return f"retry: {int(retry_ms)}\n\n".encode()


def encode_error(problem: errors.ProblemError, instance: str = "") -> bytes:
    return encode("error", problem.to_problem(instance))


class SlowConsumer(errors.ProblemError):
    status = 503
    code = "slow-consumer"
    title = "Slow consumer"


def resume_point(request: Request, last_event_id: str | None) -> str | None:
    """The id to resume after: `Last-Event-ID` header, else `?last_event_id=`."""
    value = request.headers.get("last-event-id") or last_event_id
    value = (value or "").strip()
    return value or None


# ---------------------------------------------------------------------------
# Subscribers and hubs


@dataclass(eq=False)
class Item:
    """One published event: an ordering key (for resume/dedupe), its encoded bytes,
    and what subscribers may filter on."""

    key: Any
    data: bytes
    meta: Any = None
    last: bool = False  # the hub's final event (end): the subscriber closes after it
    events: int = 1  # how many events `data` holds (a piece of a log: its lines)


@dataclass(eq=False)
class Subscriber:
    """A queue bounded by the events it holds (`maxsize`; an item is always taken
    into an empty queue). When it would overflow, it is cut off: emptied, marked,
    woken."""

    maxsize: int
    queue: deque[Item] = field(default_factory=deque)
    pending: int = 0  # events queued
    cut_off: bool = False
    closed: bool = False
    # The reader's wake-up, only while it waits (an asyncio.Event costs ~800 bytes each
    # of a thousand idle subscribers).
    _waiter: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def put(self, item: Item) -> None:
        if self.cut_off or self.closed:
            return
        if self.queue and self.pending + item.events > self.maxsize:
            self.cut_off = True
            self.queue.clear()  # memory never grows: the backlog goes with it
            self.pending = 0
        else:
            self.queue.append(item)
            self.pending += item.events
            if item.last:
                self.closed = True  # nothing comes after the hub's last event
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    async def batches(self, max_batch: int = 4096) -> AsyncIterator[list[Item]]:
        """Yield everything queued at once (up to `max_batch`) until closed.

        Raises SlowConsumer when cut off. After the hub's `last` item it stops."""
        while True:
            if self.cut_off:
                raise SlowConsumer("The client did not keep up with the stream")
            if self.queue:
                n = min(len(self.queue), max_batch)
                batch = [self.queue.popleft() for _ in range(n)]
                self.pending -= sum(it.events for it in batch)
                yield batch
                if batch[-1].last:
                    return
                continue
            if self.closed:
                return
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


Producer = Callable[["Hub"], Awaitable[None]]


@dataclass(eq=False)
class Hub:
    """One upstream shared by its subscribers. The producer publishes; when it
    returns (or fails) every subscriber is closed, after what was queued."""

    kind: str
    key: str
    producer: Producer
    registry: HubRegistry
    subscribers: set[Subscriber] = field(default_factory=set)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    state: dict[str, Any] = field(default_factory=dict)
    failure: errors.ProblemError | None = None
    done: bool = False
    _task: asyncio.Task[None] | None = None

    def publish(self, item: Item) -> None:
        for sub in list(self.subscribers):
            sub.put(item)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"hub-{self.kind}-{self.key[:12]}")

    async def _run(self) -> None:
        try:
            await self.producer(self)
        except asyncio.CancelledError:
            raise
        except errors.ProblemError as exc:
            self.failure = exc
        except Exception as exc:
            log.exception("hub %s %s failed", self.kind, self.key)
            self.failure = errors.EngineError(f"{type(exc).__name__}: {exc}")
        finally:
            self.done = True
            self.ready.set()
            self.registry._forget(self)
            for sub in list(self.subscribers):
                sub.close()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class HubRegistry:
    """The open hubs, keyed by (kind, key)."""

    def __init__(self) -> None:
        self.hubs: dict[tuple[str, str], Hub] = {}
        self._closing: set[asyncio.Task[None]] = set()
        # For /metrics: hubs opened (one upstream each) by kind, and where subscribers'
        # histories came from (e.g. `logs-engine`, `logs-buffer`).
        self.opened: Counter[str] = Counter()
        self.histories: Counter[str] = Counter()

    def _forget(self, hub: Hub) -> None:
        if self.hubs.get((hub.kind, hub.key)) is hub:
            del self.hubs[(hub.kind, hub.key)]

    @contextlib.asynccontextmanager
    async def subscribe(
        self, kind: str, key: str, producer: Producer, sub: Subscriber
    ) -> AsyncIterator[Hub]:
        """Join (or open) the hub of (kind, key); leave it on exit, closing it after
        the last subscriber."""
        hub = self.hubs.get((kind, key))
        if hub is None or hub.done:
            hub = Hub(kind, key, producer, self)
            self.hubs[(kind, key)] = hub
            self.opened[kind] += 1
            hub.subscribers.add(sub)
            hub.start()
        else:
            hub.subscribers.add(sub)
        try:
            yield hub
        finally:
            hub.subscribers.discard(sub)
            sub.close()
            if not hub.subscribers:
                self._forget(hub)
                # Stop in the background, shielded from the caller's cancellation:
                # the upstream is released even when the client vanished.
                task = asyncio.create_task(hub.stop())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    def count(self, kind: str | None = None) -> int:
        return sum(1 for k in self.hubs if kind is None or k[0] == kind)

    def gauges(self) -> dict[str, float]:
        """Open hubs and their subscribers, by kind (for /metrics)."""
        out: dict[str, float] = {}
        for (kind, _), hub in self.hubs.items():
            hubs = f'moorage_stream_hubs_open{{kind="{kind}"}}'
            subs = f'moorage_stream_subscribers{{kind="{kind}"}}'
            out[hubs] = out.get(hubs, 0.0) + 1
            out[subs] = out.get(subs, 0.0) + len(hub.subscribers)
        return out

    def counters(self) -> dict[str, float]:
        """Hubs opened and histories served, since start (for /metrics)."""
        out = {
            f'moorage_stream_hubs_opened_total{{kind="{k}"}}': float(n)
            for k, n in self.opened.items()
        }
        for what, n in self.histories.items():
            kind, _, source = what.partition("-")
            out[f'moorage_stream_histories_total{{kind="{kind}",source="{source}"}}'] = float(n)
        return out

    async def close(self) -> None:
        for hub in list(self.hubs.values()):
            await hub.stop()
        self.hubs.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


# ---------------------------------------------------------------------------
# The response


SHUTDOWN = {"reason": "shutdown"}


class StreamControl:
    """How a stream is asked to stop from outside (shutdown, engine lost): the closing
    frame, and the body wait under way, cut short so that the frame goes out now."""

    __slots__ = ("frame", "wait")

    def __init__(self) -> None:
        self.frame: bytes | None = None
        self.wait: asyncio.Timeout | None = None

    def stop(self, frame: bytes) -> None:
        if self.frame is None:
            self.frame = frame
        wait = self.wait
        if wait is not None and not wait.expired():
            wait.reschedule(asyncio.get_running_loop().time())


def engine_lost_frame(retry_ms: int, retry_after: int, instance: str) -> bytes:
    lost = errors.EngineUnavailable(
        "The engine went away; reconnect (with Last-Event-ID) to resume once it is back",
        retry_after=retry_after,
    )
    return encode_retry(retry_ms) + encode_error(lost, instance)


async def framed(
    body: AsyncIterator[bytes],
    *,
    retry_ms: int,
    max_lifetime: float,
    instance: str = "",
    clock: Callable[[], float] = time.monotonic,
    shutdown: anyio.Event | None = None,
    engine_lost: asyncio.Event | None = None,
    retry_after: int = 5,
    control: StreamControl | None = None,
) -> AsyncIterator[bytes]:
    """Wrap a body of encoded events: a `retry:` hint first, `event: error` with a
    problem document on failure, and `event: end` {"reason": "max-lifetime"} once
    the connection has lived `max_lifetime` seconds (the client reconnects and
    resumes from its last id). The body is always closed (engine streams freed).

    `control.stop(frame)` ends the stream with that frame, at once. `shutdown` and
    `engine_lost` (events; the response uses shared watchers instead, see `SSEStream`)
    do so with `event: end` {"reason": "shutdown"} and with `event: error`
    engine-unavailable after a fresh `retry:` hint."""
    deadline = clock() + max_lifetime
    yield encode_retry(retry_ms)
    it = aiter(body)
    ctl = control if control is not None else StreamControl()

    async def watch(wait: Callable[[], Awaitable[Any]], frame: bytes) -> None:
        await wait()
        ctl.stop(frame)

    watchers: list[asyncio.Task[None]] = []
    if shutdown is not None:
        watchers.append(asyncio.create_task(watch(shutdown.wait, encode("end", SHUTDOWN))))
    if engine_lost is not None:
        frame = engine_lost_frame(retry_ms, retry_after, instance)
        watchers.append(asyncio.create_task(watch(engine_lost.wait, frame)))
    try:
        while True:
            if ctl.frame is not None:
                yield ctl.frame
                return
            remaining = deadline - clock()
            if remaining <= 0:
                yield encode("end", {"reason": "max-lifetime"})
                return
            current: asyncio.Timeout | None = None
            try:
                async with asyncio.timeout(remaining) as current:
                    ctl.wait = current
                    chunk = await anext(it)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if current is None or not current.expired():  # the body's own
                    timeout = errors.Timeout("The engine did not answer in time")
                    yield encode_error(timeout, instance)
                    return
                yield ctl.frame or encode("end", {"reason": "max-lifetime"})
                return
            except errors.ProblemError as exc:
                yield ctl.frame or encode_error(exc, instance)
                return
            finally:
                ctl.wait = None
            yield chunk
    finally:
        for task in watchers:
            task.cancel()
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()


# ---------------------------------------------------------------------------
# Shared watchers: one task per signal for every open stream, not one per stream


class _Members(Protocol):
    def __hash__(self) -> int: ...


M = TypeVar("M", bound=_Members)


class Watch(Generic[M]):
    """One task waiting for a signal on behalf of many streams.

    The signal is an event made by `arm()` when the watch starts (so nothing that
    happens after a stream joined is missed), or the coroutine `wait()`. When it
    fires, `fire(member)` runs for every member that joined before; one that joined
    after (the event set, its task not yet woken) waits for the next signal. The task
    exists only while there are members."""

    def __init__(
        self,
        fire: Callable[[M], None],
        name: str,
        *,
        arm: Callable[[], asyncio.Event] | None = None,
        wait: Callable[[], Coroutine[Any, Any, Any]] | None = None,
    ) -> None:
        self._arm = arm
        self._wait = wait
        self._fire = fire
        self._name = name
        self.members: set[M] = set()
        self._next: set[M] = set()  # joined after the signal, before the task woke
        self._event: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def idle(self) -> bool:
        return not self.members and not self._next

    def join(self, member: M) -> None:
        if self._event is not None and self._event.is_set():
            self._next.add(member)
            return
        self.members.add(member)
        if self._task is None:
            self._start()

    def leave(self, member: M) -> None:
        self.members.discard(member)
        self._next.discard(member)
        if self.idle and self._task is not None:
            self._task.cancel()
            self._task = self._event = None

    def _start(self) -> None:
        self._event = self._arm() if self._arm is not None else None
        self._task = asyncio.create_task(self._run(self._event), name=self._name)

    async def _run(self, event: asyncio.Event | None) -> None:
        if event is not None:
            await event.wait()
        elif self._wait is not None:
            await self._wait()
        fired, self.members, self._next = self.members, self._next, set()
        self._task = self._event = None
        for member in fired:
            self._fire(member)
        if self.members:
            self._start()


class _LoopStreams:
    """The shared watchers of one event loop."""

    def __init__(self) -> None:
        self.shutdown: Watch[SSEStream] = Watch(
            lambda stream: stream.on_shutdown(),
            "sse-shutdown",
            wait=EventSourceResponse._listen_for_exit_signal,  # sse-starlette's signal
        )
        self.engine: dict[Callable[[], asyncio.Event], Watch[SSEStream]] = {}

    def engine_watch(self, arm: Callable[[], asyncio.Event]) -> Watch[SSEStream]:
        found = self.engine.get(arm)
        if found is None:
            found = self.engine[arm] = Watch(
                lambda stream: stream.on_engine_lost(), "sse-engine-lost", arm=arm
            )
        return found

    def engine_leave(self, arm: Callable[[], asyncio.Event], stream: SSEStream) -> None:
        watch = self.engine.get(arm)
        if watch is not None:
            watch.leave(stream)
            if watch.idle:
                del self.engine[arm]


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopStreams] = (
    weakref.WeakKeyDictionary()
)


def _loop_streams() -> _LoopStreams:
    loop = asyncio.get_running_loop()
    found = _loops.get(loop)
    if found is None:
        found = _loops[loop] = _LoopStreams()
    return found


# ---------------------------------------------------------------------------
# The response


class SSEStream(EventSourceResponse):
    """sse-starlette's response, streamed with one task of its own instead of six.

    EventSourceResponse runs four tasks in a task group for each response (the body,
    the pings, a shutdown listener, a disconnect listener) and `framed` two more
    watchers; held by a thousand idle subscribers they were most of a stream's
    memory. Here the body is sent from the request's own task; one task listens for
    the client's disconnect; pings are a timer; shutdown (sse-starlette's signal) and
    engine loss are watched by one task per event loop for every stream.

    Behaviour is EventSourceResponse's: headers at once, `: ping` comments every
    `ping` seconds, on shutdown the goodbye frame then a cut after `grace` seconds, on
    disconnect the body closed at once. HEAD answers headers only (sse-starlette)."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        control: StreamControl,
        *,
        ping: float,
        grace: float,
        engine_lost: Callable[[], asyncio.Event] | None,
        lost_frame: Callable[[], bytes],
        headers: dict[str, str],
    ) -> None:
        super().__init__(content, ping=ping, headers=headers)
        del self._send_lock  # for its task group's sends; ours are ordered without it
        self.control = control
        self._grace = grace
        self._engine_lost = engine_lost
        self._lost_frame = lost_frame
        self._cut: asyncio.Timeout | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._ping_task: asyncio.Task[None] | None = None
        self._send: Send | None = None

    # -- called by the shared watchers and timers --------------------------------

    def on_shutdown(self) -> None:
        self.control.stop(encode("end", SHUTDOWN))
        # The goodbye has `grace` seconds to go out (a client that does not read).
        asyncio.get_running_loop().call_later(self._grace, self.cut)

    def on_engine_lost(self) -> None:
        self.control.stop(self._lost_frame())

    def cut(self) -> None:
        """End the response now (the client went away; the grace period is over)."""
        self.active = False
        cut = self._cut
        if cut is not None and not cut.expired():
            cut.reschedule(asyncio.get_running_loop().time())

    def _ping_due(self) -> None:
        if not self.active:
            return
        loop = asyncio.get_running_loop()
        self._ping_timer = loop.call_later(self.ping_interval, self._ping_due)
        if self._ping_task is None or self._ping_task.done():
            self._ping_task = loop.create_task(self._ping_once())

    async def _ping_once(self) -> None:
        ping = ServerSentEvent(comment=f"ping - {datetime.now(UTC)}", sep=self.sep)
        if self.active and self._send is not None:
            message = {"type": "http.response.body", "body": ensure_bytes(ping, self.sep)}
            await self._send({**message, "more_body": True})

    async def _listen_for_client(self, receive: Receive) -> None:
        try:
            while self.active:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
        except Exception as exc:  # a receive that fails: the client is as good as gone
            log.debug("stream receive failed: %s", exc)
        self.cut()

    # -- ASGI ---------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"].upper() == "HEAD":
            await super().__call__(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        watchers = _loop_streams()
        engine = watchers.engine_watch(self._engine_lost) if self._engine_lost else None
        body = self.body_iterator
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        self._send = send
        listener = loop.create_task(self._listen_for_client(receive))
        self._ping_timer = loop.call_later(self.ping_interval, self._ping_due)
        watchers.shutdown.join(self)
        if engine is not None:
            engine.join(self)
        try:
            async with asyncio.timeout(None) as self._cut:
                async for chunk in body:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                self.active = False
                if self._ping_task is not None and not self._ping_task.done():
                    await self._ping_task  # a ping under way goes out before the end
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except TimeoutError:
            if self._cut is None or not self._cut.expired():
                raise
        finally:
            self.active = False
            self._cut = None
            watchers.shutdown.leave(self)
            if self._engine_lost is not None:
                watchers.engine_leave(self._engine_lost, self)
            self._ping_timer.cancel()
            listener.cancel()
            if self._ping_task is not None:
                self._ping_task.cancel()
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                await aclose()
        if self.background is not None:
            await self.background()


def sse_response(
    body: AsyncIterator[bytes],
    settings: Settings,
    request: Request | None = None,
    *,
    engine_lost: Callable[[], asyncio.Event] | asyncio.Event | None = None,
) -> SSEStream:
    """The SSE response: headers at once, keep-alive comments, retry hint, lifetime;
    `end` {"reason": "shutdown"} when the server stops (sse-starlette's signal; the
    stream then has a moment to say goodbye), `error` engine-unavailable when the
    engine goes away: `engine_lost` arms the signal (`EventBus.watch_disconnect`),
    shared by every stream that passes the same one (an event: this stream's own)."""
    instance = request.url.path if request is not None else ""
    control = StreamControl()
    retry_ms, retry_after = settings.sse_retry_ms, settings.engine_retry_after
    own_event = engine_lost if isinstance(engine_lost, asyncio.Event) else None
    return SSEStream(
        framed(
            body,
            retry_ms=retry_ms,
            max_lifetime=settings.sse_max_lifetime,
            instance=instance,
            engine_lost=own_event,
            retry_after=retry_after,
            control=control,
        ),
        control,
        ping=max(settings.sse_ping_interval, 0.05),
        # Time to send the goodbye; well inside uvicorn's own grace period.
        grace=max(0.2, min(2.0, settings.shutdown_grace / 2)),
        engine_lost=None if own_event is not None else engine_lost,  # type: ignore[arg-type]
        lost_frame=lambda: engine_lost_frame(retry_ms, retry_after, instance),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def accepts_sse(request: Request) -> bool:
    """Whether the client asked for the stream form (`Accept: text/event-stream`)."""
    return SSE_MEDIA_TYPE in request.headers.get("accept", "").lower()


_NOTHING: Any = object()
T = TypeVar("T")


async def _first(items: AsyncIterator[T]) -> T:
    try:
        return await anext(items)
    except StopAsyncIteration:
        result: T = _NOTHING
        return result


async def primed(items: AsyncGenerator[T, None], wait: float) -> Primed[T]:
    """Run `items` up to its first item (for at most `wait` seconds) *before* the
    response starts, and give back the stream from there.

    A refusal the engine reports at once (policy, credentials, a bad option) then
    raises here, in the handler, and is a plain 4xx/5xx problem instead of an
    `event: error` after a 200. An engine still silent after `wait` does not hold
    the headers back: the stream starts and the first item comes when it comes."""
    first = asyncio.ensure_future(_first(items))
    rest = Primed(first, items)
    try:
        await asyncio.wait({first}, timeout=wait)
        if first.done():
            first.result()  # a failure raises now
    except BaseException:
        await rest.aclose()
        raise
    return rest


class Primed(Generic[T]):
    """The rest of a primed stream: its first item (maybe still on its way), then the
    others. Closing it, or dropping it unread (a response that never started its
    body), stops the upstream."""

    def __init__(self, first: asyncio.Future[T], items: AsyncGenerator[T, None]) -> None:
        self._first: asyncio.Future[T] | None = first
        self._items = items
        # Marked as retrieved: a failure after the handler gave up is not "never retrieved".
        first.add_done_callback(lambda f: f.cancelled() or f.exception())

    def __aiter__(self) -> Primed[T]:
        return self

    async def __anext__(self) -> T:
        if self._first is None:
            return await anext(self._items)
        item = await self._first  # a cancelled reader cancels the first read too
        self._first = None
        if item is _NOTHING:
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        first, self._first = self._first, None
        if first is not None and not first.done():
            first.cancel()
            with contextlib.suppress(BaseException):
                await first
        await self._items.aclose()

    def __del__(self) -> None:
        if self._first is not None and not self._first.done():
            self._first.cancel()


EVENTS_KEY = "x-moorage-events"


def sse_doc(
    description: str,
    example: str,
    events: Mapping[str, type[BaseModel]] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entry of a stream: its media type and its events.

    `events` maps each event name to the model of its `data`; `end` and `error`
    (problem document) are added, since every stream can send them. app/openapi.py
    turns the map into `x-moorage-events` and a union of frames keyed on the name.
    """
    from app.models.events import StreamEnd
    from app.openapi import schema_ref

    names: dict[str, type[BaseModel]] = {
        **(events or {}),
        "end": StreamEnd,
        "error": errors.Problem,
    }
    return {
        200: {
            "description": description,
            "content": {
                SSE_MEDIA_TYPE: {
                    "schema": {"type": "string"},
                    "example": example,
                    EVENTS_KEY: {name: schema_ref(model) for name, model in names.items()},
                }
            },
        }
    }


async def client_gone(receive: Receive) -> None:
    """Return once the client has gone away: for a request whose body has been read and
    whose answer takes long (the server then has nothing to give but the disconnect)."""
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    except Exception as exc:  # a receive that fails: the client is as good as gone
        log.debug("receive failed: %s", exc)
