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
from collections import Counter, deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio
import orjson
from fastapi import Request
from sse_starlette.sse import EventSourceResponse

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


@dataclass(eq=False)
class Subscriber:
    """A bounded queue. When it would overflow, it is cut off: emptied, marked, woken."""

    maxsize: int
    queue: deque[Item] = field(default_factory=deque)
    cut_off: bool = False
    closed: bool = False
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, item: Item) -> None:
        if self.cut_off or self.closed:
            return
        if len(self.queue) >= self.maxsize:
            self.cut_off = True
            self.queue.clear()  # memory never grows: the backlog goes with it
        else:
            self.queue.append(item)
            if item.last:
                self.closed = True  # nothing comes after the hub's last event
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def batches(self, max_batch: int = 4096) -> AsyncIterator[list[Item]]:
        """Yield everything queued at once (up to `max_batch`) until closed.

        Raises SlowConsumer when cut off. After the hub's `last` item it stops."""
        while True:
            if self.cut_off:
                raise SlowConsumer("The client did not keep up with the stream")
            if self.queue:
                n = min(len(self.queue), max_batch)
                batch = [self.queue.popleft() for _ in range(n)]
                yield batch
                if batch[-1].last:
                    return
                continue
            if self.closed:
                return
            self._wake.clear()
            await self._wake.wait()


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
) -> AsyncIterator[bytes]:
    """Wrap a body of encoded events: a `retry:` hint first, `event: error` with a
    problem document on failure, and `event: end` {"reason": "max-lifetime"} once
    the connection has lived `max_lifetime` seconds (the client reconnects and
    resumes from its last id). The body is always closed (engine streams freed).

    When `shutdown` is set (the server is stopping) the stream ends at once with
    `event: end` {"reason": "shutdown"}; when `engine_lost` is set (the engine went
    away) with `event: error` engine-unavailable and a fresh `retry:` hint."""
    deadline = clock() + max_lifetime
    yield encode_retry(retry_ms)
    it = aiter(body)
    stop: list[bytes] = []  # the closing frame, once a watcher fired
    current: asyncio.Timeout | None = None

    async def watch(wait: Callable[[], Awaitable[Any]], frame: bytes) -> None:
        await wait()
        if not stop:
            stop.append(frame)
        if current is not None and not current.expired():
            current.reschedule(asyncio.get_running_loop().time())

    watchers: list[asyncio.Task[None]] = []
    if shutdown is not None:
        watchers.append(asyncio.create_task(watch(shutdown.wait, encode("end", SHUTDOWN))))
    if engine_lost is not None:
        lost = errors.EngineUnavailable(
            "The engine went away; reconnect (with Last-Event-ID) to resume once it is back",
            retry_after=retry_after,
        )
        frame = encode_retry(retry_ms) + encode_error(lost, instance)
        watchers.append(asyncio.create_task(watch(engine_lost.wait, frame)))
    try:
        while True:
            if stop:
                yield stop[0]
                return
            remaining = deadline - clock()
            if remaining <= 0:
                yield encode("end", {"reason": "max-lifetime"})
                return
            try:
                async with asyncio.timeout(remaining) as current:
                    chunk = await anext(it)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if current is None or not current.expired():  # the body's own
                    timeout = errors.Timeout("The engine did not answer in time")
                    yield encode_error(timeout, instance)
                    return
                yield stop[0] if stop else encode("end", {"reason": "max-lifetime"})
                return
            except errors.ProblemError as exc:
                yield stop[0] if stop else encode_error(exc, instance)
                return
            finally:
                current = None
            yield chunk
    finally:
        for task in watchers:
            task.cancel()
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()


def sse_response(
    body: AsyncIterator[bytes],
    settings: Settings,
    request: Request | None = None,
    *,
    engine_lost: asyncio.Event | None = None,
) -> EventSourceResponse:
    """The SSE response: headers at once, keep-alive comments, retry hint, lifetime;
    `end` {"reason": "shutdown"} when the server stops (sse-starlette sees uvicorn's
    exit and sets the shutdown event; the stream then has a moment to say goodbye),
    `error` engine-unavailable when `engine_lost` is set."""
    instance = request.url.path if request is not None else ""
    shutdown = anyio.Event()
    return EventSourceResponse(
        framed(
            body,
            retry_ms=settings.sse_retry_ms,
            max_lifetime=settings.sse_max_lifetime,
            instance=instance,
            shutdown=shutdown,
            engine_lost=engine_lost,
            retry_after=settings.engine_retry_after,
        ),
        ping=max(settings.sse_ping_interval, 0.05),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        shutdown_event=shutdown,
        # Time to send the goodbye; well inside uvicorn's own grace period.
        shutdown_grace_period=max(0.2, min(2.0, settings.shutdown_grace / 2)),
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


def sse_doc(description: str, example: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entry of a stream: its media type and event formats."""
    return {
        200: {
            "description": description,
            "content": {SSE_MEDIA_TYPE: {"schema": {"type": "string"}, "example": example}},
        }
    }
