"""The live streams of containers: logs, health and stats, as encoded SSE events.

Each function is an async generator of SSE bytes for one subscriber; the upstream
(engine logs / stats connection, or the engine event bus) is a hub shared by every
subscriber of the same (kind, container). See app/streams.py for the plumbing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from app import errors
from app.engine import Engine
from app.models.common import _parse_time, rfc3339
from app.services.events import EventBus
from app.services.health import HealthReport, health_report
from app.services.logs import (
    LineBatch,
    LineId,
    body_pieces,
    iter_log_batches,
    ns_to_engine,
    sse_events,
    sse_records,
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


@dataclass(slots=True)
class LogChunk:
    """Lines of one piece of the engine's body, as the hub publishes them: the batch
    (ids, streams) and its SSE records, joined."""

    batch: LineBatch
    data: bytes
    lowest_ns: int

    @classmethod
    def of(cls, batch: LineBatch) -> LogChunk:
        return cls(batch, sse_events(batch), batch.min_ns())

    def select(
        self, out: list[bytes], floor: LineId | None, wanted: set[str], since_ns: int | None
    ) -> None:
        """Append the records after `floor`, of the `wanted` streams, from `since_ns`."""
        if (
            (floor is None or self.lowest_ns > floor[0])
            and len(wanted) == 2
            and (since_ns is None or self.lowest_ns >= since_ns)
        ):
            out.append(self.data)  # the common case: every line, already joined
            return
        b = self.batch
        for ns, seq, stream, record in zip(b.ns, b.seq, b.stream, sse_records(b), strict=True):
            if floor is not None and (ns, seq) <= floor:
                continue
            if stream in wanted and (since_ns is None or ns >= since_ns):
                out.append(record)


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


def _logs_producer(engine: Engine, cid: str, tty: bool) -> Callable[[Hub], Any]:
    async def run(hub: Hub) -> None:
        # A little history (2 s) so lines written while the follow is being set up
        # are not lost; each subscriber drops what it already has, by id.
        params = {
            "follow": True,
            "stdout": True,
            "stderr": True,
            "timestamps": True,
            "since": ns_to_engine(time.time_ns() - 2_000_000_000),
        }
        try:
            async with engine.request(
                "GET",
                f"containers/{cid}/logs",
                params=params,
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
                    hub.publish(Item((batch.max_ns(), 0), chunk.data, chunk))
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


async def logs_events(
    engine: Engine,
    hubs: HubRegistry,
    inspect: dict[str, Any],
    query: LogQuery,
    resume: LineId | None,
    queue_size: int,
) -> AsyncIterator[bytes]:
    """A subscriber's log events: history (tail / since / resume), then live lines
    from the container's shared hub, then `end`."""
    cid: str = inspect["Id"]
    tty = bool((inspect.get("Config") or {}).get("Tty"))
    running = bool((inspect.get("State") or {}).get("Running"))
    wanted = {s for s, on in (("stdout", query.stdout), ("stderr", query.stderr)) if on}
    since_ns = time_ns(query.since) if query.since is not None else None
    until_ns = time_ns(query.until) if query.until is not None else None

    floor: LineId | None = resume
    params: dict[str, Any] = {}
    read_history = True
    if resume is not None:
        params["since"] = ns_to_engine(resume[0])
    else:
        if query.since is not None:
            params["since"] = ns_to_engine(since_ns or 0)
        if query.tail != "all":
            params["tail"] = query.tail
        if query.tail == "0" and query.since is None:
            read_history = False
            floor = (time.time_ns(), 1 << 62)  # only lines from now on
    if until_ns is not None:
        params["until"] = ns_to_engine(until_ns)

    # `floor`: skip lines up to it (the resume point; after the history, the
    # newest line the history gave). Live lines are deduplicated against that seam
    # only: the hub delivers each line once, even when stdout and stderr stamps
    # arrive slightly out of order.
    resume_floor = floor

    async def history() -> AsyncIterator[bytes]:
        nonlocal floor
        async for batch in _history(engine, cid, tty, params):
            out: list[bytes] = []
            LogChunk.of(batch).select(out, resume_floor, wanted, None)
            newest = max(batch.ids())
            if floor is None or newest > floor:
                floor = newest
            if out:
                yield b"".join(out)

    if not running or until_ns is not None:
        async for chunk in history():
            yield chunk
        end = await container_end(engine, cid) if until_ns is None else {"reason": "until"}
        yield encode("end", end)
        return

    sub = Subscriber(maxsize=queue_size)
    async with hubs.subscribe("logs", cid, _logs_producer(engine, cid, tty), sub) as hub:
        await hub.ready.wait()
        if hub.failure is not None:
            raise hub.failure
        if read_history:
            async for chunk in history():
                yield chunk
        async for items in sub.batches():
            out: list[bytes] = []
            for it in items:
                if it.last:
                    out.append(it.data)
                    continue
                lines: LogChunk = it.meta
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


def health_event(report: HealthReport, previous: str | None, ts: str | None) -> dict[str, Any]:
    last = report.log[-1] if report.log else None
    return {
        "container_id": report.container_id,
        "name": report.name,
        "status": report.status,
        "previous": previous,
        "failing_streak": report.failing_streak,
        "output": last.output if last else "",
        "ts": ts or (last.end if last else None) or rfc3339(time.time()),
    }


def _health_producer(engine: Engine, bus: EventBus, cid: str | None) -> Callable[[Hub], Any]:
    async def run(hub: Hub) -> None:
        last: dict[str, str] = {}
        with bus.subscribe() as bsub:
            hub.ready.set()
            while True:
                if bsub.overflowed and bsub.queue.empty():
                    raise errors.EngineError("health: the engine event reader fell behind")
                event = await bsub.get()
                if event.get("Type") != "container":
                    continue
                actor = event.get("Actor") or {}
                eid = str(actor.get("ID") or "")
                if cid is not None and eid != cid:
                    continue
                action = str(event.get("Action") or "")
                if action == "destroy":
                    last.pop(eid, None)
                    hub.publish(Item(eid, b"", {"destroyed": True}))
                    continue
                if not action.startswith("health_status"):
                    continue
                status = action.partition(":")[2].strip()
                if last.get(eid) == status:
                    continue
                last[eid] = status
                try:
                    doc = await engine.json(
                        "GET", f"containers/{eid}/json", kind="container", ref=eid
                    )
                except errors.NotFound:
                    continue
                report = health_report(doc)
                # Status as of the event; output of the last check (recorded first).
                if status in ("starting", "healthy", "unhealthy"):
                    report = report.model_copy(update={"status": status})
                tn = int(event.get("timeNano") or 0)
                ts = _ns_rfc3339(tn) if tn else None
                labels = dict(actor.get("Attributes") or {})
                hub.publish(Item(eid, b"", {"report": report, "ts": ts, "labels": labels}))

    return run


def _ns_rfc3339(ns: int) -> str:
    base = rfc3339(ns // 1_000_000_000) or ""
    return base.replace("Z", f".{ns % 1_000_000_000:09d}Z")


async def health_events(
    engine: Engine,
    bus: EventBus,
    hubs: HubRegistry,
    cid: str | None,
    labels: list[str],
    queue_size: int,
) -> AsyncIterator[bytes]:
    """One event per change of health status (the first: the current status)."""
    last: dict[str, str] = {}
    seq = 0

    def event(report: HealthReport, ts: str | None) -> bytes:
        nonlocal seq
        seq += 1
        data = health_event(report, last.get(report.container_id), ts)
        last[report.container_id] = report.status
        return encode("health", data, id=f"{time.time_ns()}-{seq}")

    sub = Subscriber(maxsize=queue_size)
    async with hubs.subscribe("health", cid or "*", _health_producer(engine, bus, cid), sub) as hub:
        await hub.ready.wait()
        if cid is not None:
            doc = await engine.json("GET", f"containers/{cid}/json", kind="container", ref=cid)
            yield event(health_report(doc), None)
        else:
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
                    yield event(health_report(doc), None)
        async for items in sub.batches():
            out: list[bytes] = []
            for it in items:
                meta = it.meta or {}
                if meta.get("destroyed"):
                    last.pop(it.key, None)
                    if cid is not None:
                        out.append(encode("end", {"reason": "removed"}))
                        yield b"".join(out)
                        return
                    continue
                if cid is None and labels and not _label_match(meta["labels"], labels):
                    continue
                report: HealthReport = meta["report"]
                if last.get(report.container_id) == report.status:
                    continue
                out.append(event(report, meta["ts"]))
            if out:
                yield b"".join(out)
        if hub.failure is not None:
            raise hub.failure


# ---------------------------------------------------------------------------
# Stats


def _stats_producer(engine: Engine, cid: str) -> Callable[[Hub], Any]:
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
    async with hubs.subscribe("stats", cid, _stats_producer(engine, cid), sub) as hub:
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
                    hubs.subscribe("stats", new, _stats_producer(engine, new), sub)
                )
                joined[new] = (sub, stack)
            await asyncio.sleep(interval)
            out: list[bytes] = []
            for sub, _ in joined.values():
                if sub.cut_off:
                    raise SlowConsumer("The client did not keep up with the stream")
                samples = [it.data for it in sub.queue if not it.last]
                sub.queue.clear()
                if samples:
                    out.append(samples[-1])
            if out:
                yield b"".join(out)
    finally:
        for _, stack in joined.values():
            await stack.aclose()
