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
import logging
import time
from collections import deque
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


@dataclass
class HealthJournal:
    engine: Engine
    bus: EventBus
    size: int = 10_000
    entries: deque[HealthEntry] = field(init=False)
    covered_after: Position = (0, 0)
    last_status: dict[str, str] = field(default_factory=dict)
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

    async def _run(self, ready: asyncio.Event) -> None:
        while True:
            with self.bus.subscribe() as sub:
                ready.set()
                while not (sub.overflowed and sub.queue.empty()):
                    event = await sub.get()
                    try:
                        await self._on_event(event)
                    except asyncio.CancelledError:
                        raise
                    except Exception:  # never let the journal die
                        log.exception("health journal: event %s", event.get("Action"))
            # Fell behind the bus: changes may have gone by unseen.
            self._lost("the health journal fell behind the engine events")

    def _lost(self, why: str) -> None:
        log.warning("%s: health streams resuming from before now start afresh", why)
        self.entries.clear()
        self.covered_after = max((time.time_ns(), 0), self.covered_after)
        self.last_status.clear()

    async def _on_event(self, event: Event) -> None:
        marker = event.get("moorage")
        if marker == "gap":
            # Engine events were lost (engine restart): so may health changes be.
            self._lost("engine events were lost")
            return
        if marker is not None or event.get("Type") != "container":
            return
        actor = event.get("Actor") or {}
        cid = str(actor.get("ID") or "")
        action = str(event.get("Action") or "")
        tn = int(event.get("timeNano") or 0)
        if action == "destroy":
            # Every removal (the journal cannot tell which containers have a check that
            # never changed since start-up): a container's stream ends on it.
            self.last_status.pop(cid, None)
            self._append(tn, cid, {}, None)
            return
        if not action.startswith("health_status"):
            return
        status = action.partition(":")[2].strip()
        previous = self.last_status.get(cid)
        if previous == status:
            return
        self.last_status[cid] = status
        labels: dict[str, str] = dict(actor.get("Attributes") or {})
        try:
            doc = await self.engine.json("GET", f"containers/{cid}/json", kind="container", ref=cid)
        except errors.NotFound:
            doc = None
        except errors.ProblemError as exc:
            log.debug("health journal: inspect %s: %s", cid, exc.detail)
            doc = None
        if doc is not None:
            report = health_report(doc)
            labels = dict((doc.get("Config") or {}).get("Labels") or {})
        else:
            name = str(actor.get("Attributes", {}).get("name") or "")
            report = HealthReport(container_id=cid, name=name, status="none")
        # Status as of the event; output of the last check (recorded first).
        if status in ("starting", "healthy", "unhealthy"):
            report = report.model_copy(update={"status": status})
        data = health_event(report, previous, ns_rfc3339(tn) if tn else None)
        self._append(tn, cid, labels, data)

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
