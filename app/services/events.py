"""The one engine event reader.

moorage reads the engine's `/events` once, in the background, and fans the events
out to its own subscribers (streams, the state cache), each with a bounded queue.
aiodocker's `events.subscribe()` is not used: it starts its reader with the first
caller's filters, never restarts, and gives each subscriber an unbounded queue.

When the engine goes away the reader retries with back-off and, on return, asks the
engine to replay from the last event it saw (`since`). Subscribers see markers as well
as engine events: `{"moorage": "disconnected"}`, `{"moorage": "connected",
"resumed_from": <time_nano or None>}`, and, when the replay cannot reach back to the
last event seen (the engine restarted, or more than its 256 remembered events went
by), `{"moorage": "gap", "after": <last time_nano seen>, "before": <first time_nano
after the gap>}`: events in between may be lost and nothing can bring them back.
The bus remembers its recent gaps (`gaps`), so a client resuming from before one is
told about it too, and `watch_disconnect()` wakes a stream when the engine goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import weakref
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from app import errors
from app.engine import Engine

log = logging.getLogger("moorage.events")

Event = dict[str, Any]


# The longest engine event line read whole. Labels are bounded at create
# (app/models/common.py: 256 KiB in all), so only objects made past moorage reach it.
MAX_EVENT_LINE = 512 << 10
_EDGE = 4 << 10  # what an oversized line keeps of its start and of its end

# The engine writes an event as {"status","id","from","Type","Action","Actor":{"ID",
# "Attributes":{…}},"scope","time","timeNano"}: all but the attributes sit in the first
# and last few hundred bytes. Inside the attributes every quote is escaped, so these
# anchored patterns cannot be fooled by a label's value.
_HEAD_FIELD = re.compile(rb'[{,]"(Type|Action|ID|id|status|from)":"((?:[^"\\]|\\.)*)"')
_TAIL_FIELD = re.compile(rb'\}(?:,"scope":"([a-z]*)")?,"time":(\d+),"timeNano":(\d+)\}\s*$')


@dataclass
class OversizedLine:
    """An event line over the limit: its size, first and last bytes; the rest was
    dropped as it arrived."""

    size: int
    head: bytes
    tail: bytes

    def stub(self) -> Event | None:
        """The event without its attributes, marked `moorage_truncated` (its size),
        or None when its start or end cannot be read (not an engine event)."""
        head = self.head.split(b'"Attributes":', 1)[0]
        fields: dict[str, str] = {}
        for m in _HEAD_FIELD.finditer(head):
            key = m.group(1).decode()
            fields.setdefault(key, orjson.loads(b'"' + m.group(2) + b'"'))
        end = _TAIL_FIELD.search(self.tail)
        if end is None or "Type" not in fields:
            return None
        event: Event = {
            "Type": fields["Type"],
            "Action": fields.get("Action", fields.get("status", "")),
            "Actor": {"ID": fields.get("ID", fields.get("id", "")), "Attributes": {}},
            "scope": (end.group(1) or b"local").decode(),
            "time": int(end.group(2)),
            "timeNano": int(end.group(3)),
            "moorage_truncated": self.size,
        }
        for key in ("status", "id", "from"):
            if key in fields:
                event[key] = fields[key]
        return event


def _parse_line(line: bytes | OversizedLine) -> Event | None:
    """An engine event line as an event (an oversized one as its stub), or None."""
    if isinstance(line, OversizedLine):
        stub = line.stub()
        log.warning(
            "event stream: an event of %d bytes kept without its attributes: %s %s %s",
            line.size,
            stub and stub.get("Type"),
            stub and stub.get("Action"),
            stub and (stub.get("Actor") or {}).get("ID"),
        )
        return stub
    try:
        event: Event = orjson.loads(line)
    except orjson.JSONDecodeError:
        log.warning("event stream: not JSON: %r", line[:200])
        return None
    return event


async def event_lines(
    chunks: AsyncIterator[bytes], limit: int
) -> AsyncIterator[bytes | OversizedLine]:
    """The engine's newline-ended lines, each at most `limit` bytes; a longer one is
    an `OversizedLine` (never held whole: a huge event costs that event, not the
    stream, as aiohttp's line reader did by failing and reconnecting onto it)."""
    buf = b""
    over: OversizedLine | None = None
    async for chunk in chunks:
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            piece = chunk[start:] if nl < 0 else chunk[start:nl]
            if over is not None:
                over.size += len(piece)
                over.tail = (over.tail + piece)[-_EDGE:]
            elif len(buf) + len(piece) > limit:
                whole = buf + piece
                over = OversizedLine(len(whole), whole[:_EDGE], whole[-_EDGE:])
                buf = b""
            else:
                buf += piece
            if nl < 0:
                break
            if over is not None:
                yield over
                over = None
            elif buf.strip():
                yield buf
                buf = b""
            start = nl + 1
    if over is None and buf.strip():
        yield buf


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel a background reader and wait until it has stopped (the bus, the journal)."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass(eq=False)
class Subscription:
    """One subscriber's bounded queue. `overflowed` is set when it fell behind."""

    queue: asyncio.Queue[Event]
    overflowed: bool = False

    async def get(self) -> Event:
        return await self.queue.get()


@dataclass
class EventBus:
    engine: Engine
    journal_size: int = 10_000
    # Held weakly: a stream's subscription, made in its handler (see `event_stream`),
    # goes with its body should the response never start.
    subscribers: weakref.WeakSet[Subscription] = field(default_factory=weakref.WeakSet)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    last_time_nano: int | None = None
    # Wall time (epoch s) the reader last lost the engine; kept after it reconnects, so
    # that the state can tell whether it has caught up since (see ContainerState).
    lost_at: float | None = None
    # The last attempt to read failed because the engine cannot be reached (not, say,
    # an event line too long): only then are reads refused without asking it.
    unreachable: bool = False
    journal: deque[Event] = field(init=False)
    # Events after this time (ns) are all in the journal: set when the reader first
    # connects, moved forward when the journal drops its oldest event.
    journal_from: int | None = None
    # (after, before) of the gaps seen (time_nano): events in between are lost.
    gaps: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=100))
    # An engine event line longer than this is not buffered: it is published as a
    # stub without its attributes (see `OversizedLine`), and counted here.
    max_line: int = MAX_EVENT_LINE
    oversized: int = 0
    _disconnect_watchers: weakref.WeakSet[asyncio.Event] = field(default_factory=weakref.WeakSet)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.journal = deque(maxlen=self.journal_size)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="moorage-events")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    @contextlib.contextmanager
    def subscribe(self, maxsize: int = 10_000) -> Any:
        sub = self.open(maxsize)
        try:
            yield sub
        finally:
            self.subscribers.discard(sub)

    def open(self, maxsize: int = 10_000) -> Subscription:
        """A subscription that receives every event from now on; the caller holds it
        (the bus does not) and discards it from `subscribers` when done."""
        sub = Subscription(asyncio.Queue(maxsize=maxsize))
        self.subscribers.add(sub)
        return sub

    def watch_disconnect(self) -> asyncio.Event:
        """An event set when the reader next loses the engine (not if it is already
        lost: a stream opened during an outage is not ended by it). Held weakly:
        it is forgotten with the stream that holds it."""
        ev = asyncio.Event()
        self._disconnect_watchers.add(ev)
        return ev

    @property
    def known_down(self) -> bool:
        """The reader had the engine and lost it, and has not got it back: the engine is
        known to be unreachable, without spending a connect on it."""
        return self.lost_at is not None and self.unreachable and not self.connected.is_set()

    def _disconnected(self) -> None:
        self.lost_at = time.time()
        self.connected.clear()
        self._publish({"moorage": "disconnected"})
        for ev in list(self._disconnect_watchers):
            ev.set()

    def _publish(self, event: Event) -> None:
        for sub in list(self.subscribers):
            if sub.overflowed:
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.overflowed = True

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                await self._read_once()
                backoff = 0.2
                self.unreachable = False
            except asyncio.CancelledError:
                raise
            except errors.ProblemError as exc:
                log.debug("event stream: %s", exc.detail)
                self.unreachable = isinstance(exc, errors.EngineUnavailable)
            except Exception:  # never let the reader die
                log.exception("event reader failed")
                self.unreachable = False
            if self.connected.is_set():
                self._disconnected()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _read_once(self) -> None:
        # Resume from the last event seen; when none was, from when the reader
        # first connected (nothing came between then and the loss). Both are compared
        # with the engine's clock: moorage and the engine share a host's time.
        resumed_from = self.last_time_nano if self.last_time_nano is not None else self.journal_from
        params: dict[str, Any] = {}
        if resumed_from is not None:
            params["since"] = f"{resumed_from // 1_000_000_000}.{resumed_from % 1_000_000_000:09d}"
        connecting_at = time.time_ns()
        async with self.engine.request("GET", "events", params=params, long=True) as response:
            if self.journal_from is None:
                self.journal_from = connecting_at
            self.unreachable = False
            self.connected.set()
            self._publish({"moorage": "connected", "resumed_from": resumed_from})
            # The replay starts at the last event seen when the engine still has it;
            # when its first event is newer, what lay between is gone.
            checking_gap = resumed_from is not None
            async for line in event_lines(response.content.iter_any(), self.max_line):
                if isinstance(line, OversizedLine):
                    self.oversized += 1
                event = _parse_line(line)
                if event is None:
                    continue
                time_nano = int(event.get("timeNano") or 0)
                # Replay from `since` includes the boundary event: drop what we had.
                if resumed_from is not None and time_nano <= resumed_from:
                    checking_gap = False
                    continue
                if checking_gap and resumed_from is not None:
                    checking_gap = False
                    log.warning(
                        "event stream: events between %s and %s lost", resumed_from, time_nano
                    )
                    self.gaps.append((resumed_from, time_nano))
                    self._publish({"moorage": "gap", "after": resumed_from, "before": time_nano})
                self.last_time_nano = max(time_nano, self.last_time_nano or 0)
                if len(self.journal) == self.journal.maxlen:
                    self.journal_from = int(self.journal[0].get("timeNano") or 0)
                self.journal.append(event)
                self._publish(event)

    def replay(self, after: int) -> list[Event] | None:
        """Journal events after `after` (ns), or None when the journal does not reach
        back that far (the caller asks the engine, or reports a gap)."""
        if self.journal_from is None or after < self.journal_from:
            return None
        out: list[Event] = []
        for event in reversed(self.journal):
            if int(event.get("timeNano") or 0) <= after:
                break
            out.append(event)
        out.reverse()
        return out

    async def engine_replay(self, after: int, until: int) -> list[Event]:
        """What the engine still remembers (its last 256 events) in (after, until]."""
        params = {
            "since": f"{after // 1_000_000_000}.{after % 1_000_000_000:09d}",
            "until": f"{until // 1_000_000_000}.{until % 1_000_000_000:09d}",
        }
        out: list[Event] = []
        async with self.engine.request("GET", "events", params=params, long=True) as response:
            async for line in event_lines(response.content.iter_any(), self.max_line):
                event = _parse_line(line)
                if event is not None and int(event.get("timeNano") or 0) > after:
                    out.append(event)
        return out

    async def events(self, sub: Subscription) -> AsyncIterator[Event]:
        while True:
            yield await sub.get()


# ---------------------------------------------------------------------------
# GET /v1/events: the bus, filtered per subscriber, resumable by id (time_nano).

ENGINE_MEMORY = 256  # the engine keeps its last 256 events


@dataclass(frozen=True)
class EventFilter:
    types: frozenset[str] = frozenset()
    actions: frozenset[str] = frozenset()
    labels: tuple[str, ...] = ()
    containers: frozenset[str] = frozenset()
    # The engine's other filters: `image` exact (with or without the tag), `scope`
    # exact; volume, network, daemon, plugin, node, service, config and secret each
    # match the actor's id or name by prefix, as the engine's own filter does.
    images: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    fuzzy: tuple[frozenset[str], ...] = ()

    def __call__(self, event: Event) -> bool:
        if self.types and event.get("Type") not in self.types:
            return False
        if self.scopes and str(event.get("scope") or "") not in self.scopes:
            return False
        if (self.images or self.fuzzy) and not self._actor_matches(event):
            return False
        if self.actions:
            action = str(event.get("Action") or "")
            # `health_status` matches `health_status: healthy` (the engine's suffix).
            if action not in self.actions and action.partition(":")[0] not in self.actions:
                return False
        actor = event.get("Actor") or {}
        attrs: dict[str, str] = actor.get("Attributes") or {}
        for flt in self.labels:
            key, eq, value = flt.partition("=")
            if key not in attrs or (eq and attrs[key] != value):
                return False
        if self.containers:
            ids = set()
            if event.get("Type") == "container":
                ids = {str(actor.get("ID") or ""), attrs.get("name", "")}
            elif "container" in attrs:
                ids = {attrs["container"]}
            if not any(
                c == i or (len(c) >= 4 and i.startswith(c)) for c in self.containers for i in ids
            ):
                return False
        return True

    def _actor_matches(self, event: Event) -> bool:
        actor = event.get("Actor") or {}
        attrs: dict[str, str] = actor.get("Attributes") or {}
        actor_id, name = str(actor.get("ID") or ""), str(attrs.get("name") or "")
        if self.images:
            image = name if event.get("Type") == "image" else str(attrs.get("image") or "")
            candidates = {actor_id, image, _strip_tag(actor_id), _strip_tag(image)}
            if not candidates & self.images:
                return False
        for values in self.fuzzy:
            if not any(actor_id.startswith(v) or name.startswith(v) for v in values):
                return False
        return True


def _strip_tag(ref: str) -> str:
    name, _, tag = ref.rpartition(":")
    return name if name and "/" not in tag else ref


def event_view(event: Event) -> dict[str, Any]:
    """The SSE `data` of an engine event."""
    actor = event.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    tn = int(event.get("timeNano") or 0)
    secs = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(tn // 1_000_000_000))
    view = {
        "type": event.get("Type"),
        "action": event.get("Action"),
        "id": actor.get("ID"),
        "name": attrs.get("name"),
        "attributes": attrs,
        "time": f"{secs}.{tn % 1_000_000_000:09d}Z",
        "time_nano": tn,
    }
    if "moorage_truncated" in event:
        # Too large to read whole: its attributes (labels, name) were dropped.
        view["truncated"] = True
    return view


def _encode(event: Event) -> bytes:
    view = event_view(event)
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (
        view["time_nano"],
        str(view["type"] or "event").encode(),
        orjson.dumps(view),
    )


def _gap(after: int, before: int) -> bytes:
    from app.streams import encode

    return encode(
        "gap",
        {
            "after": str(after),
            "first_available": str(before),
            "detail": "Events after this id were lost: the engine restarted or the "
            "events were older than its memory and moorage's journal",
        },
    )


def event_stream(
    bus: EventBus,
    match: EventFilter,
    after: int | None,
    queue_size: int,
    until: int | None = None,
) -> AsyncGenerator[bytes, None]:
    """Replay after `after` (ns) from the journal, else from the engine, then follow
    the bus. Wherever events were lost (an engine restart while the bus was away, a
    resume older than both the engine's memory and the journal) an `event: gap`
    says so, in order with the events around it; the stream stays open across an
    engine restart. With `until` (ns) it ends, `event: end` `{"reason": "until"}`, once
    that time has come (events after it are not sent).

    Subscribes at once, in the handler: the response's headers reach the client
    before its body starts, and a client that acts on them (creates what it then
    waits to see) must find its event in the stream, not published to no one."""
    return _event_stream(bus, bus.open(queue_size), match, after, until)


async def _event_stream(
    bus: EventBus,
    sub: Subscription,
    match: EventFilter,
    after: int | None,
    until: int | None,
) -> AsyncGenerator[bytes, None]:
    from app.streams import SlowConsumer, encode

    end = encode("end", {"reason": "until"})

    last = after if after is not None else -1
    told: set[tuple[int, int]] = set()
    try:
        if after is not None:
            out: list[bytes] = []
            replay = bus.replay(after)
            if replay is None:
                replay = await bus.engine_replay(after, max(time.time_ns(), after + 1))
                known = [e for e in bus.journal if int(e.get("timeNano") or 0) > after]
                first = int(replay[0].get("timeNano") or 0) if replay else None
                if len(replay) >= ENGINE_MEMORY or (not replay and known):
                    out.append(_gap(after, first or int(known[0].get("timeNano") or 0)))
                seen = {int(e.get("timeNano") or 0) for e in replay}
                replay += [e for e in known if int(e.get("timeNano") or 0) not in seen]
                replay.sort(key=lambda e: int(e.get("timeNano") or 0))
            # The bus's own gaps (engine restarts) after the resume point.
            pending = sorted(g for g in bus.gaps if g[1] > after)
            for event in replay:
                tn = int(event.get("timeNano") or 0)
                while pending and pending[0][1] <= tn:
                    gap = pending.pop(0)
                    told.add(gap)
                    out.append(_gap(*gap))
                if until is not None and tn > until:
                    break
                if tn > last:
                    last = tn
                    if match(event):
                        out.append(_encode(event))
            for gap in pending:
                if until is None or gap[1] <= until:
                    told.add(gap)
                    out.append(_gap(*gap))
            if out:
                yield b"".join(out)
        while True:
            if sub.overflowed and sub.queue.empty():
                raise SlowConsumer("The client did not keep up with the event stream")
            if until is not None:
                left = (until - time.time_ns()) / 1e9
                try:
                    async with asyncio.timeout(max(left, 0)):
                        batch = [await sub.get()]
                except TimeoutError:
                    yield end
                    return
            else:
                batch = [await sub.get()]
            while not sub.queue.empty() and len(batch) < 4096:
                batch.append(sub.queue.get_nowait())
            out = []
            for event in batch:
                if "moorage" in event:
                    if event["moorage"] == "gap":
                        gap = (int(event["after"]), int(event["before"]))
                        if gap not in told and last < gap[1]:
                            told.add(gap)
                            out.append(_gap(*gap))
                    continue
                tn = int(event.get("timeNano") or 0)
                if until is not None and tn > until:
                    yield b"".join([*out, end])
                    return
                if tn <= last:
                    continue
                last = tn
                if match(event):
                    out.append(_encode(event))
            if out:
                yield b"".join(out)
    finally:
        bus.subscribers.discard(sub)
