"""The health journal: every change of a container's health status moorage saw, with
a stable, ordered id, so that a health stream resumes without a gap or a repeat.

One task follows the engine event bus from start-up (whether or not anyone watches),
and for each `health_status` event that changes a container's status reads the
container once (the check's output, the failing streak) and appends an entry. Every
health stream, of one container or of all, reads the same journal by position.

    id        `<time_nano>-<n>`: the engine event's time, and n (1, 2, …) among the
              entries of that same nanosecond. Ordered as the engine ordered them,
              the same for every subscriber and every reconnect.
    position  an id; a stream's first events (the current status of each container)
              carry the journal's head at that moment: resuming from it gives what
              changed since.
    bounded   the newest `size` entries. `covered_after`: every change after it is in
              the journal. A resume from before it (older than the journal, or from
              before this process started, or across a loss of engine events) cannot
              be answered exactly: the stream says `event: gap` and starts afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app import errors
from app.engine import Engine
from app.services.events import Event, EventBus, cancel_and_wait
from app.services.health import HealthReport, health_event, health_report, ns_rfc3339

log = logging.getLogger("moorage.health")

Position = tuple[int, int]


def format_id(pos: Position) -> str:
    return f"{pos[0]}-{pos[1]}"


def parse_id(value: str) -> Position:
    """A health event id (`<ns>-<n>`), or 422 naming `last_event_id`."""
    ns, dash, n = value.partition("-")
    if not (ns.isdigit() and (not dash or n.isdigit())) or len(value) > 40:
        raise errors.ValidationFailed.field(
            ["query", "last_event_id"], f"{value[:80]!r} is not a health event id"
        )
    return int(ns), int(n or 0)


@dataclass(frozen=True, slots=True)
class HealthEntry:
    id: Position
    container_id: str
    labels: dict[str, str]
    data: dict[str, Any] | None  # the `event: health` data; None: the container was removed


PIPELINE = 64  # changes whose inspect is in flight at once (the reader waits past it)
OUTPUT_WAIT = 1.0  # s after an event: how long its entry waits for the check's output


@dataclass(slots=True)
class HealthChange:
    """A change the reader saw, the moment it saw it: for the writer to append in the
    reader's order, and for the journal's listeners (alerting), which act on it without
    waiting for its turn."""

    tn: int = 0
    cid: str = ""
    status: str = ""
    previous: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    doc: asyncio.Future[dict[str, Any] | None] | None = None
    removed: bool = False
    lost: bool = False
    read_at: float = field(default_factory=time.monotonic)

    async def inspected(self, wait: float) -> dict[str, Any] | None:
        """The container's inspect, if it answers by `wait` s after the event was read
        (else None, the inspect left running for the writer)."""
        if self.doc is None:
            return None
        if not self.doc.done():
            left = self.read_at + wait - time.monotonic()
            if left > 0:
                await asyncio.wait({self.doc}, timeout=left)
        if self.doc.done() and not self.doc.cancelled():
            return self.doc.result()
        return None

    async def entry(self) -> tuple[dict[str, str], dict[str, Any] | None]:
        """The entry's labels and `event: health` data (None: the container was removed),
        with the check's output when the container's inspect answers by OUTPUT_WAIT
        after the event was read: else without it (as when the inspect fails), so that
        one slow inspect on a loaded engine holds up the changes behind it that long
        at most."""
        if self.removed:
            return {}, None
        doc = await self.inspected(OUTPUT_WAIT)
        if self.doc is not None and not self.doc.done():
            self.doc.cancel()
            log.debug("health journal: inspect %s: no answer in %g s", self.cid, OUTPUT_WAIT)
        if doc is not None:
            report = health_report(doc)
            labels = dict((doc.get("Config") or {}).get("Labels") or {})
        else:
            labels = self.attributes
            name = str(self.attributes.get("name") or "")
            report = HealthReport(container_id=self.cid, name=name, status="none")
        # Status as of the event; output of the last check (recorded first).
        if self.status in ("starting", "healthy", "unhealthy"):
            report = report.model_copy(update={"status": self.status})
        return labels, health_event(report, self.previous, ns_rfc3339(self.tn) if self.tn else None)


@dataclass
class HealthJournal:
    engine: Engine
    bus: EventBus
    size: int = 10_000
    entries: deque[HealthEntry] = field(init=False)
    covered_after: Position = (0, 0)
    last_status: dict[str, str] = field(default_factory=dict)
    # Called with each change as the reader sees it (see HealthChange).
    listeners: set[Callable[[HealthChange], None]] = field(default_factory=set)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.entries = deque(maxlen=self.size)

    @property
    def head(self) -> Position:
        """The newest position: the last entry's id, else the start of coverage."""
        return self.entries[-1].id if self.entries else self.covered_after

    async def start(self) -> None:
        """Follow the bus; call before the bus starts, so no event goes by unseen."""
        if self._task is None:
            self.covered_after = (time.time_ns(), 0)
            ready = asyncio.Event()
            self._task = asyncio.create_task(self._run(ready), name="moorage-health")
            await ready.wait()

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def covers(self, pos: Position) -> bool:
        """Whether every change after `pos` is in the journal."""
        return pos >= self.covered_after

    def after(self, pos: Position) -> list[HealthEntry]:
        """The entries after `pos`, oldest first (the caller checked `covers`)."""
        out: list[HealthEntry] = []
        for entry in reversed(self.entries):
            if entry.id <= pos:
                break
            out.append(entry)
        out.reverse()
        return out

    async def wait(self, pos: Position) -> None:
        """Until there is an entry after `pos`."""
        while self.head <= pos:
            await self._changed.wait()

    # -- the follower ------------------------------------------------------------------
    #
    # Two tasks: the reader takes the bus's events in order, decides which are changes
    # (so `last_status` is the reader's) and starts each change's inspect at once; the
    # writer appends them in the reader's order as their inspects answer. A burst of
    # changes (a thousand containers turning unhealthy together) then waits for about
    # one inspect, not for each one after another; at most PIPELINE are in flight.

    async def _run(self, ready: asyncio.Event) -> None:
        pending: asyncio.Queue[HealthChange] = asyncio.Queue(PIPELINE)
        writer = asyncio.create_task(self._write(pending), name="moorage-health-writer")
        try:
            while True:
                with self.bus.subscribe() as sub:
                    ready.set()
                    while not (sub.overflowed and sub.queue.empty()):
                        event = await sub.get()
                        try:
                            item = self._on_event(event)
                        except Exception:  # never let the journal die
                            log.exception("health journal: event %s", event.get("Action"))
                            continue
                        if item is not None:
                            self._tell(item)
                            await pending.put(item)
                # Fell behind the bus: changes may have gone by unseen.
                item = self._lost("the health journal fell behind the engine events")
                self._tell(item)
                await pending.put(item)
        finally:
            writer.cancel()
            while not pending.empty():
                item = pending.get_nowait()
                if item.doc is not None:
                    item.doc.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write(self, pending: asyncio.Queue[HealthChange]) -> None:
        while True:
            item = await pending.get()
            try:
                if item.lost:
                    self.entries.clear()
                    self.covered_after = max((time.time_ns(), 0), self.covered_after)
                else:
                    self._append(item.tn, item.cid, *(await item.entry()))
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the journal die
                log.exception("health journal: change of %s", item.cid)

    def _tell(self, change: HealthChange) -> None:
        for listener in list(self.listeners):
            try:
                listener(change)
            except Exception:  # a listener's fault is not the journal's
                log.exception("health journal: a listener failed on %s", change.cid)

    def _lost(self, why: str) -> HealthChange:
        """Changes may have gone by unseen: from the writer's turn on, a resume from
        before now starts afresh."""
        log.warning("%s: health streams resuming from before now start afresh", why)
        self.last_status.clear()
        return HealthChange(lost=True)

    def _on_event(self, event: Event) -> HealthChange | None:
        """What the writer is to append for `event` (None: nothing), its inspect started."""
        marker = event.get("moorage")
        if marker == "gap":
            # Engine events were lost (engine restart): so may health changes be.
            return self._lost("engine events were lost")
        if marker is not None or event.get("Type") != "container":
            return None
        actor = event.get("Actor") or {}
        cid = str(actor.get("ID") or "")
        action = str(event.get("Action") or "")
        tn = int(event.get("timeNano") or 0)
        if action == "destroy":
            # Every removal (the journal cannot tell which containers have a check that
            # never changed since start-up): a container's stream ends on it.
            self.last_status.pop(cid, None)
            return HealthChange(tn=tn, cid=cid, removed=True)
        if not action.startswith("health_status"):
            return None
        status = action.partition(":")[2].strip()
        previous = self.last_status.get(cid)
        if previous == status:
            return None
        self.last_status[cid] = status
        doc = asyncio.ensure_future(self._inspect(cid))
        return HealthChange(tn, cid, status, previous, dict(actor.get("Attributes") or {}), doc)

    async def _inspect(self, cid: str) -> dict[str, Any] | None:
        try:
            doc: dict[str, Any] = await self.engine.json(
                "GET", f"containers/{cid}/json", kind="container", ref=cid
            )
        except errors.NotFound:
            return None
        except errors.ProblemError as exc:
            log.debug("health journal: inspect %s: %s", cid, exc.detail)
            return None
        except Exception:  # a fault, not the engine's answer: the change goes on without it
            log.exception("health journal: inspect %s", cid)
            return None
        return doc

    def _append(self, tn: int, cid: str, labels: dict[str, str], data: Any) -> None:
        last = self.head
        # Ordered as the engine sent them, even should two events share a nanosecond
        # (or the clock step back): never at or before the head.
        pos = (tn, 1) if tn > last[0] else (last[0], last[1] + 1)
        if len(self.entries) == self.entries.maxlen:
            self.covered_after = self.entries[0].id
        self.entries.append(HealthEntry(pos, cid, labels, data))
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
