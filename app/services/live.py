"""The live streams of containers: logs, health and stats, as encoded SSE events.

Each function is an async generator of SSE bytes for one subscriber; the upstream
(engine logs / stats connection, or the engine event bus) is a hub shared by every
subscriber of the same (kind, container). See app/streams.py for the plumbing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from app import errors
from app.engine import Engine
from app.models.common import _parse_time
from app.services.health import HealthReport, health_event, health_report
from app.services.health_journal import HealthJournal, Position, format_id
from app.services.logs import (
    LineBatch,
    LineId,
    body_pieces,
    iter_log_batches,
    ns_to_engine,
    sse_events,
)
from app.services.stats import compute_sample
from app.streams import Hub, HubRegistry, Item, SlowConsumer, Subscriber, encode

# ---------------------------------------------------------------------------
# Logs


@dataclass(frozen=True)
class LogQuery:
    tail: str = "all"
    since: str | None = None
    until: str | None = None
    timestamps: bool = True
    stdout: bool = True
    stderr: bool = True


_RECORD_END = b"\n\n"
_AFTER_ALL = 1 << 62  # a seq above every real one: (ns, _AFTER_ALL) is after every line of ns


@dataclass(slots=True)
class LogChunk:
    """Lines of one piece of the engine's body, as the hub publishes them: the batch
    (ids, streams, by column) and its SSE records, joined. A record is cut out of
    `data` when only some lines are wanted."""

    batch: LineBatch
    data: bytes
    lowest_ns: int
    highest: LineId  # at least the newest line's id
    number: int = 0  # its place among its hub's chunks (1, 2, …); 0 outside a hub

    @classmethod
    def of(cls, batch: LineBatch) -> LogChunk:
        # An upper bound of the lines' ids: the newest stamp, after any seq (the
        # stamps are not turned into numbers for every line unless a filter needs them).
        highest = (batch.max_ns(), _AFTER_ALL)
        return cls(batch, sse_events(batch), batch.min_ns(), highest)

    @property
    def ns(self) -> list[int]:
        return self.batch.ns

    @property
    def seq(self) -> list[int]:
        return self.batch.seq

    @property
    def stream(self) -> list[str]:
        return self.batch.stream

    def __len__(self) -> int:
        return len(self.batch)

    def find(self, line: LineId) -> int:
        """The index of the line with this id, or -1."""
        ns, seq = line
        if self.lowest_ns <= ns <= self.highest[0]:
            for i, (n, q) in enumerate(zip(self.ns, self.seq, strict=True)):
                if n == ns and q == seq:
                    return i
        return -1

    def records(self) -> list[bytes]:
        """One record per line (JSON never holds a raw newline: the only blank lines
        are the ends of records)."""
        return [part + _RECORD_END for part in self.data.split(_RECORD_END)[:-1]]

    def newest(self, k: int) -> LogChunk:
        """A chunk of this one's last `k` lines, with its number (`highest` stays an
        upper bound of their ids)."""
        b, n = self.batch, len(self) - k
        part = LineBatch(b.ns[n:], b.seq[n:], b.stream[n:], b.ts[n:], b.raw[n:])
        data = b"".join(self.records()[n:])
        return LogChunk(part, data, min(part.ns), self.highest, self.number)

    def select(
        self,
        out: list[bytes],
        floor: LineId | None,
        wanted: set[str],
        since_ns: int | None,
        start: int = 0,
    ) -> None:
        """Append the records after `floor`, of the `wanted` streams, from `since_ns`,
        of the lines from index `start` on."""
        if floor is not None and self.highest <= floor:
            return
        if (
            start == 0
            and (floor is None or self.lowest_ns > floor[0])
            and len(wanted) == 2
            and (since_ns is None or self.lowest_ns >= since_ns)
        ):
            out.append(self.data)  # the common case: every line, already joined
            return
        records = self.records()
        for i in range(start, len(records)):
            ns = self.ns[i]
            if floor is not None and (ns, self.seq[i]) <= floor:
                continue
            if self.stream[i] in wanted and (since_ns is None or ns >= since_ns):
                out.append(records[i])


@dataclass(slots=True)
class LogBuffer:
    """The newest chunks a logs hub has read, bounded by bytes: the history of the
    subscribers that join later, with no engine read and no re-encoding.

    It holds an unbroken run of the container's log, in the engine's order: every
    line after `covered_after` (None: every line since the container started; with
    `tail_only`, a tail's lines, not a run by time)."""

    limit: int
    covered_after: LineId | None
    tail_only: bool = False
    chunks: deque[LogChunk] = field(default_factory=deque)
    size: int = 0
    lines: int = 0
    number: int = 0  # the number of the newest chunk

    @staticmethod
    def cost(chunk: LogChunk) -> int:
        # The records, and the batch (its lines and stamps, about as much again).
        return 2 * len(chunk.data) + 64 * len(chunk)

    def add(self, chunk: LogChunk) -> None:
        self.number += 1
        chunk.number = self.number
        self.chunks.append(chunk)
        self.size += self.cost(chunk)
        self.lines += len(chunk)
        while self.size > self.limit and len(self.chunks) > 1:  # the newest stays
            old = self.chunks.popleft()
            self.size -= self.cost(old)
            self.lines -= len(old)
            self.tail_only = False
            gone = old.highest
            if self.size < self.limit // 2 and (kept := self._newest_within(old)) is not None:
                # A chunk larger than half the buffer (a burst read in one piece): its
                # newest lines stay, or a small chunk after it would be all that is left.
                self.chunks.appendleft(kept)
                self.size += self.cost(kept)
                self.lines += len(kept)
                n = len(old) - len(kept)
                gone = max(zip(old.ns[:n], old.seq[:n], strict=True))
            if self.covered_after is None or gone > self.covered_after:
                self.covered_after = gone

    def _newest_within(self, chunk: LogChunk) -> LogChunk | None:
        """The newest lines of `chunk` that fit the room left, or None when no line does."""
        room = self.limit - self.size
        k = 0
        for record in reversed(chunk.records()):
            room -= 2 * len(record) + 64  # as `cost` counts them
            if room < 0:
                break
            k += 1
        return chunk.newest(k) if 0 < k < len(chunk) else None

    def after(self, line: LineId) -> list[tuple[LogChunk, int]] | None:
        """The lines after `line` by their place in the log (exact, whatever the order
        of the stamps), or None when the buffer does not hold it."""
        chunks = list(self.chunks)
        for k in range(len(chunks) - 1, -1, -1):
            i = chunks[k].find(line)
            if i >= 0:
                return [(chunks[k], i + 1), *((later, 0) for later in chunks[k + 1 :])]
        return None

    def history(
        self, resume: LineId | None, tail: str, since_ns: int | None
    ) -> list[tuple[LogChunk, int]] | None:
        """The chunks (each with the index of its first line wanted) that hold a
        subscriber's history, or None when the buffer does not reach back that far."""
        after = self.covered_after
        if resume is not None or (tail == "all" and since_ns is not None):
            point = resume if resume is not None else (cast(int, since_ns) - 1, _AFTER_ALL)
            if self.tail_only or (after is not None and point < after):
                return None
            return [(c, 0) for c in self.chunks if c.highest > point]
        if tail == "all":
            return None if after is not None else [(c, 0) for c in self.chunks]
        want = int(tail)  # the route allows `all` or digits only
        if after is not None and self.lines < want:
            return None
        # The engine takes the last `want` lines, then drops those before `since`.
        picked: list[tuple[LogChunk, int]] = []
        for c in reversed(self.chunks):
            if want <= 0:
                break
            first = max(len(c) - want, 0)
            picked.append((c, first))
            want -= len(c) - first
        picked.reverse()
        return picked


# A hub's follow starts at its first subscriber's tail when that is at most this many
# lines (the history pushed through the hub stays small); otherwise `look_back` before
# now (so that lines written while the follow is being set up are not lost), and
# subscribers read older history from the engine, unless the container is younger.
TAIL_FROM_HUB = 10_000
# A resume from the engine reads from this long before its line (ns), to find it.
RESUME_MARGIN_NS = 1_000_000_000


@dataclass(frozen=True)
class LogStart:
    """Where a hub's engine follow starts, and what its buffer then holds."""

    params: dict[str, Any]
    covered_after: LineId | None  # None: from the container's first line
    tail_only: bool = False  # the follow reads its first subscriber's tail, then lives

    @classmethod
    def of(
        cls,
        resume: LineId | None,
        query: LogQuery,
        since_ns: int | None,
        created_ns: int,
        look_back: float,
    ) -> LogStart:
        if resume is None and query.tail not in ("all", "0") and int(query.tail) <= TAIL_FROM_HUB:
            params: dict[str, Any] = {"tail": query.tail}
            if since_ns is not None:
                params["since"] = ns_to_engine(since_ns)
            return cls(params, (_AFTER_ALL, _AFTER_ALL), tail_only=True)
        start = time.time_ns() - int(look_back * 1e9)
        if created_ns > start:
            return cls({}, None)  # the container is younger: its whole log
        return cls({"since": ns_to_engine(start)}, (start - 1, _AFTER_ALL))


def time_ns(value: str) -> int:
    """A `since`/`until` query (unix seconds or RFC 3339) in ns."""
    try:
        return int(_parse_time(value) * 1_000_000_000)
    except ValueError as exc:
        raise errors.ValidationFailed.field(["query"], str(exc)) from exc


async def container_end(engine: Engine, cid: str) -> dict[str, Any]:
    """Why a container's stream ended: exited (with its code), or removed."""
    try:
        doc = await engine.json("GET", f"containers/{cid}/json", kind="container", ref=cid)
    except errors.NotFound:
        return {"reason": "removed"}
    state = doc.get("State") or {}
    if state.get("Status") in ("removing", "dead"):
        return {"reason": "removed"}
    if state.get("Running"):
        return {"reason": "engine-gone"}
    return {"reason": "exited", "exit_code": int(state.get("ExitCode") or 0)}


def container_created_ns(inspect: dict[str, Any]) -> int:
    """When the container was created (ns), or 0 when the document does not say."""
    try:
        return int(_parse_time(str(inspect.get("Created") or "")) * 1_000_000_000)
    except ValueError:
        return 0


def logs_producer(
    engine: Engine, cid: str, tty: bool, start: LogStart, buffer_bytes: int
) -> Callable[[Hub], Any]:
    """The upstream of a container's shared `("logs", cid)` hub: one engine follow from
    `start`, each piece published as an `Item` whose `meta` is a `LogChunk` (then one
    `last` item saying why it ended). Whoever joins the hub first passes it: a viewer
    (logs_events) or alerting's log rules (app/alerts/evaluate.py)."""

    async def run(hub: Hub) -> None:
        buffer = LogBuffer(buffer_bytes, start.covered_after, start.tail_only)
        hub.state["buffer"] = buffer
        params = {"follow": True, "stdout": True, "stderr": True, "timestamps": True}
        try:
            async with engine.request(
                "GET",
                f"containers/{cid}/logs",
                params={**params, **start.params},
                long=True,
                kind="container",
                ref=cid,
                unchunked=True,
            ) as resp:
                hub.ready.set()
                # One item per piece of body read (many lines, each with its own id):
                # the queue bound counts pieces, and a burst costs one wake-up each
                # (body_pieces: larger pieces while a burst goes on).
                async for batch in iter_log_batches(body_pieces(resp.content), tty=tty):
                    chunk = LogChunk.of(batch)
                    buffer.add(chunk)
                    hub.publish(Item(chunk.highest, chunk.data, chunk, events=len(chunk)))
        except errors.NotFound:
            pass
        except errors.EngineError:
            pass  # the connection broke (container removed under it): say why below
        hub.publish(Item(None, encode("end", await container_end(engine, cid)), last=True))

    return run


async def _history(
    engine: Engine, cid: str, tty: bool, params: dict[str, Any]
) -> AsyncIterator[LineBatch]:
    params = {"follow": False, "stdout": True, "stderr": True, "timestamps": True, **params}
    async with (
        engine.catch_up_slots,
        engine.request(
            "GET",
            f"containers/{cid}/logs",
            params=params,
            long=True,
            kind="container",
            ref=cid,
            unchunked=True,
        ) as resp,
    ):
        async for batch in iter_log_batches(resp.content.iter_any(), tty=tty):
            yield batch


_PIECE = 64 << 10  # history from a buffer is written in pieces of about this size


def _pieces(parts: list[bytes]) -> Iterator[bytes]:
    """`parts` joined into pieces of about `_PIECE` bytes."""
    group: list[bytes] = []
    size = 0
    for part in parts:
        group.append(part)
        size += len(part)
        if size >= _PIECE:
            yield b"".join(group)
            group, size = [], 0
    if group:
        yield b"".join(group)


async def logs_events(
    engine: Engine,
    hubs: HubRegistry,
    inspect: dict[str, Any],
    query: LogQuery,
    resume: LineId | None,
    queue_size: int,
    buffer_bytes: int,
    look_back: float,
) -> AsyncIterator[bytes]:
    """A subscriber's log events: history (tail / since / resume), then live lines
    from the container's shared hub, then `end`.

    The hub keeps the newest chunks its engine follow read (`buffer_bytes`). A
    subscriber whose history the buffer holds takes it from there: no engine read,
    and the seam between history and live lines is exact (cut by chunk number,
    whatever the order of the stamps). Otherwise its history is one engine read
    (at most `Engine.catch_up_slots` at once), and the seam is cut by line id."""
    cid: str = inspect["Id"]
    tty = bool((inspect.get("Config") or {}).get("Tty"))
    running = bool((inspect.get("State") or {}).get("Running"))
    wanted = {s for s, on in (("stdout", query.stdout), ("stderr", query.stderr)) if on}
    since_ns = time_ns(query.since) if query.since is not None else None
    until_ns = time_ns(query.until) if query.until is not None else None
    if resume is not None:
        since_ns = None  # a resume continues after its id, whatever else was asked

    floor: LineId | None = resume  # skip lines up to it
    seen = 0  # the hub's chunks numbered up to this are in the history already
    params: dict[str, Any] = {}
    new_only = resume is None and query.tail == "0"
    if resume is not None:
        params["since"] = ns_to_engine(max(resume[0] - RESUME_MARGIN_NS, 0))
    else:
        if since_ns is not None:
            params["since"] = ns_to_engine(since_ns)
        if query.tail != "all":
            params["tail"] = query.tail
    if until_ns is not None:
        params["until"] = ns_to_engine(until_ns)
    resume_floor = floor

    last_line: LineId | None = None  # the engine history's last line, by place

    async def engine_history() -> AsyncIterator[bytes]:
        # A resume reads from a little before its line and continues right after it,
        # by place: stdout and stderr lines are stamped as the engine reads each pipe,
        # so near the resume point the stamps' order need not be the log's. When the
        # line is not found, the lines after it by id are sent instead.
        nonlocal floor, last_line
        searching = resume
        cut = resume_floor  # lines up to it are dropped (None once found by place)
        held: list[bytes] = []  # while searching: the lines after it by id
        async for batch in _history(engine, cid, tty, params):
            out: list[bytes] = []
            chunk = LogChunk.of(batch)
            if searching is None:
                chunk.select(out, cut, wanted, None)  # the engine applied `since`
            elif (found := chunk.find(searching)) >= 0:
                searching = cut = None
                held.clear()
                chunk.select(out, None, wanted, None, found + 1)
            else:
                chunk.select(held, cut, wanted, None)
                if chunk.lowest_ns > searching[0] + RESUME_MARGIN_NS:
                    searching = None  # well past it: it is not in the log
                    out, held = held, []
            newest = max(zip(batch.ns, batch.seq, strict=True))
            if floor is None or newest > floor:
                floor = newest
            last_line = (batch.ns[-1], batch.seq[-1])
            if out:
                yield b"".join(out)
        if held:
            yield b"".join(held)

    def from_buffer(held: list[tuple[LogChunk, int]], buffer: LogBuffer) -> Iterator[bytes]:
        # The seam by place: live chunks from the next one on follow these lines.
        nonlocal seen
        seen = buffer.number  # taken with the chunks, with no await between
        out: list[bytes] = []
        for chunk, first in held:
            chunk.select(out, floor, wanted, since_ns, first)
        yield from _pieces(out)

    if not running or until_ns is not None:
        hubs.histories["logs-engine"] += 1
        async for piece in engine_history():
            yield piece
        end = await container_end(engine, cid) if until_ns is None else {"reason": "until"}
        yield encode("end", end)
        return

    sub = Subscriber(maxsize=queue_size)
    start = LogStart.of(resume, query, since_ns, container_created_ns(inspect), look_back)
    producer = logs_producer(engine, cid, tty, start, buffer_bytes)
    async with hubs.subscribe("logs", cid, producer, sub) as hub:
        await hub.ready.wait()
        if hub.failure is not None:
            raise hub.failure
        buffer: LogBuffer = hub.state["buffer"]
        if new_only:
            floor = (time.time_ns(), _AFTER_ALL)  # lines stamped from now on
            hubs.histories["logs-none"] += 1
        elif hub.producer is producer and start.tail_only:
            # This subscriber opened the hub, whose follow reads its tail first.
            hubs.histories["logs-follow"] += 1
        elif resume is not None and (held := buffer.after(resume)) is not None:
            hubs.histories["logs-buffer"] += 1
            floor = None  # resumed right after that line, whatever the stamps' order
            for piece in from_buffer(held, buffer):
                yield piece
        elif (held := buffer.history(resume, query.tail, since_ns)) is not None:
            hubs.histories["logs-buffer"] += 1
            for piece in from_buffer(held, buffer):
                yield piece
        else:
            hubs.histories["logs-engine"] += 1
            async for piece in engine_history():
                yield piece
            if last_line is not None and (held := buffer.after(last_line)) is not None:
                floor = None  # the live lines that follow the history's last one
                for piece in from_buffer(held, buffer):
                    yield piece
        async for items in sub.batches():
            out = []
            for it in items:
                if it.last:
                    out.append(it.data)
                    continue
                lines: LogChunk = it.meta
                if lines.number > seen:
                    lines.select(out, floor, wanted, since_ns)
            if out:
                yield b"".join(out)
        if hub.failure is not None:
            raise hub.failure


# ---------------------------------------------------------------------------
# Health


def _label_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for flt in wanted:
        key, eq, value = flt.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


async def _current(
    engine: Engine, cid: str | None, labels: list[str]
) -> AsyncIterator[HealthReport]:
    """The current health of the container, or of every container with a health check
    (and the labels)."""
    if cid is not None:
        doc = await engine.json("GET", f"containers/{cid}/json", kind="container", ref=cid)
        yield health_report(doc)
        return
    filters = {
        "health": ["starting", "healthy", "unhealthy"],
        **({"label": labels} if labels else {}),
    }
    rows = await engine.json("GET", "containers/json", params={"filters": filters})
    for row in rows or []:
        with contextlib.suppress(errors.NotFound):
            doc = await engine.json(
                "GET", f"containers/{row['Id']}/json", kind="container", ref=row["Id"]
            )
            yield health_report(doc)


async def health_events(
    engine: Engine,
    journal: HealthJournal,
    cid: str | None,
    labels: list[str],
    resume: Position | None,
) -> AsyncIterator[bytes]:
    """One event per change of health status, read from the journal by position.

    Fresh: first the current status of each container (their id: the journal's head
    when they were read), then every change after it. Resumed (`Last-Event-ID`): the
    changes after that id, exactly, then live; when the journal does not reach back
    that far, `event: gap` and a fresh start."""
    last: dict[str, str] = {}  # status sent, per container: a change already shown is not
    pos = resume
    if pos is not None and not journal.covers(pos):
        yield encode(
            "gap",
            {
                "after": format_id(pos),
                "first_available": format_id(journal.covered_after),
                "detail": "Health changes after this id may be lost (older than moorage's "
                "journal, or from before it started); the current status follows",
            },
        )
        pos = None
    if pos is None:
        pos = journal.head
        at = format_id(pos)
        async for report in _current(engine, cid, labels):
            last[report.container_id] = report.status
            yield encode("health", health_event(report, None, None), id=at)
    while True:
        if not journal.covers(pos):
            raise SlowConsumer("The client did not keep up with the health stream")
        out: list[bytes] = []
        for entry in journal.after(pos):
            pos = entry.id
            if cid is not None and entry.container_id != cid:
                continue
            if entry.data is None:  # removed
                last.pop(entry.container_id, None)
                if cid is not None:
                    out.append(encode("end", {"reason": "removed"}))
                    yield b"".join(out)
                    return
                continue
            if cid is None and labels and not _label_match(entry.labels, labels):
                continue
            shown = last.get(entry.container_id)
            if shown == entry.data["status"]:
                continue  # shown by the first events already
            last[entry.container_id] = entry.data["status"]
            data = entry.data
            if shown is not None and shown != data["previous"]:
                # What this stream showed last (the journal may not have seen the
                # first status: a container starts its checks without an event).
                data = {**data, "previous": shown}
            out.append(encode("health", data, id=format_id(entry.id)))
        if out:
            yield b"".join(out)
        await journal.wait(pos)


# ---------------------------------------------------------------------------
# Stats


def stats_producer(engine: Engine, cid: str) -> Callable[[Hub], Any]:
    """The upstream of a container's shared `("stats", cid)` hub: one engine stats
    stream, each sample published encoded as `event: stats` (then one `last` item).
    Shared by viewers (stats_events) and alerting's stats rules."""

    async def run(hub: Hub) -> None:
        try:
            async with engine.request(
                "GET",
                f"containers/{cid}/stats",
                params={"stream": True},
                long=True,
                kind="container",
                ref=cid,
            ) as resp:
                hub.ready.set()
                async for raw in resp.content:
                    if not raw.strip():
                        continue
                    doc = orjson.loads(raw)
                    sample = compute_sample(doc, cid)
                    ns = time.time_ns()
                    hub.publish(Item(ns, encode("stats", sample.model_dump(), id=str(ns)), cid))
        except errors.EngineError:
            pass
        hub.publish(Item(None, encode("end", await container_end(engine, cid)), cid, last=True))

    return run


async def stats_events(
    engine: Engine, hubs: HubRegistry, cid: str, queue_size: int
) -> AsyncIterator[bytes]:
    """Samples of one container, as the engine produces them (about one a second)."""
    sub = Subscriber(maxsize=queue_size)
    async with hubs.subscribe("stats", cid, stats_producer(engine, cid), sub) as hub:
        async for items in sub.batches():
            yield b"".join(it.data for it in items)
        if hub.failure is not None:
            raise hub.failure


async def all_stats_events(
    engine: Engine,
    hubs: HubRegistry,
    labels: list[str],
    interval: float,
    queue_size: int,
) -> AsyncIterator[bytes]:
    """Every running container (with the labels): its latest sample each interval.

    Shares each container's stats hub with every other subscriber."""
    joined: dict[str, tuple[Subscriber, contextlib.AsyncExitStack]] = {}
    filters = {"status": ["running"], **({"label": labels} if labels else {})}
    try:
        while True:
            rows = await engine.json("GET", "containers/json", params={"filters": filters})
            running = {row["Id"] for row in rows or []}
            for gone in set(joined) - running:
                await joined.pop(gone)[1].aclose()
            for new in running - set(joined):
                sub = Subscriber(maxsize=queue_size)
                stack = contextlib.AsyncExitStack()
                await stack.enter_async_context(
                    hubs.subscribe("stats", new, stats_producer(engine, new), sub)
                )
                joined[new] = (sub, stack)
            await asyncio.sleep(interval)
            out: list[bytes] = []
            for sub, _ in joined.values():
                if sub.cut_off:
                    raise SlowConsumer("The client did not keep up with the stream")
                samples = [it.data for it in sub.queue if not it.last]
                sub.queue.clear()
                sub.pending = 0
                if samples:
                    out.append(samples[-1])
            if out:
                yield b"".join(out)
    finally:
        for _, stack in joined.values():
            await stack.aclose()
