"""The container state: the engine's containers, kept from its events.

Dashboards list containers constantly and the engine lists slowly, so moorage keeps
its own copy: one full list at start, then the event stream (`app.state.events`)
says which container changed and only that one is read again. A periodic full
resync, and one after every reconnect of the event stream, repairs whatever was
missed. Lists and reads are then answered in process, without asking the engine.

What is kept, per container:
- the engine's list document (`GET /containers/json` shape), which the container
  routes turn into `ContainerSummary`;
- its inspect document, as JSON bytes (parsed on read; a dict costs ~5x the memory);
- the few state times from inspect, so that the list's human `Status` ("Up 5
  minutes") is rendered at read time, as the engine does, instead of going stale.

Read-your-writes: a route that changed a container (create, start, stop, remove, …)
awaits `refresh(id)` (or calls `note_removed(id)`) before it answers, so the next
list shows the change without waiting for its event.

Queries answer `None` when they cannot answer (not ready yet, or a filter this
module does not evaluate): the caller then asks the engine. Routes need not do that
dance themselves: `list_containers`, `inspect_container` and their `*_json` forms
(rendered bytes, cached per container version) fall back to the engine, and honour
`fresh=True` (`?fresh=true`) by asking the engine directly.

While the engine is away the copy is not an answer: it follows the engine only
through the event reader, so from the moment the reader loses the engine until a full
resync after it is back (`stale_since`), queries answer `None`. The `*_json` reads then
answer 503 `engine-unavailable` at once when the reader knows the engine is down (no
connect spent on it), else they ask the engine. A caller who prefers the last known
state asks `stale=True` (`?stale=true`) and gets it, with the time it may be stale
from (the `Moorage-Stale-Since` header).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.responses import Response

from app import errors
from app.engine import Engine, HostQuery
from app.models.common import rfc3339
from app.services.events import EventBus

log = logging.getLogger("moorage.state")

Doc = dict[str, Any]
Filters = Mapping[str, Iterable[str]]

# Filters evaluated in process; any other one sends the caller to the engine.
SUPPORTED_FILTERS = frozenset(
    {"id", "name", "label", "status", "ancestor", "network", "health", "exited"}
)
_RUNNING_STATES = frozenset({"running", "paused", "restarting"})
HEALTH_STATES = frozenset({"starting", "healthy", "unhealthy"})
_HEX = re.compile(r"[0-9a-f]{1,64}")

STALE_HEADER = "Moorage-Stale-Since"


def human_duration(seconds: float) -> str:
    """The engine's `units.HumanDuration` (go-units), word for word."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = math.floor(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def _epoch(ts: str | None) -> float | None:
    """An engine RFC 3339 time (nanoseconds allowed) as epoch seconds; None if zero."""
    if not ts or ts.startswith("0001-"):
        return None
    head, _, frac = ts.partition(".")
    tz = "Z"
    if frac:
        digits = re.match(r"\d*", frac)
        assert digits is not None
        tz = frac[digits.end() :] or "Z"
        frac = digits.group()
    elif len(head) > 19:
        head, tz = head[:19], head[19:]
    base = datetime.fromisoformat(head + ("+00:00" if tz == "Z" else tz))
    if base.tzinfo is None:
        base = base.replace(tzinfo=UTC)
    return base.timestamp() + (float("0." + frac) if frac else 0.0)


@dataclass(slots=True)
class StateTimes:
    """What the human `Status` text needs from inspect's `State`."""

    running: bool
    paused: bool
    restarting: bool
    removing: bool
    dead: bool
    exit_code: int
    started_at: float | None
    finished_at: float | None
    health: str | None  # starting | healthy | unhealthy | None (no healthcheck)

    @classmethod
    def from_inspect(cls, doc: Doc) -> StateTimes:
        st: Doc = doc.get("State") or {}
        health = (st.get("Health") or {}).get("Status")
        return cls(
            running=bool(st.get("Running")),
            paused=bool(st.get("Paused")),
            restarting=bool(st.get("Restarting")),
            removing=bool(st.get("RemovalInProgress")) or st.get("Status") == "removing",
            dead=bool(st.get("Dead")),
            exit_code=int(st.get("ExitCode") or 0),
            started_at=_epoch(st.get("StartedAt")),
            finished_at=_epoch(st.get("FinishedAt")),
            health=health if health and health != "none" else None,
        )

    def status_text(self, now: float) -> str:
        """The engine's `State.String()`, as `docker ps` shows it."""
        if self.running:
            up = human_duration(now - (self.started_at or now))
            if self.paused:
                return f"Up {up} (Paused)"
            if self.restarting:
                ago = human_duration(now - (self.finished_at or now))
                return f"Restarting ({self.exit_code}) {ago} ago"
            if self.health is not None:
                word = "health: starting" if self.health == "starting" else self.health
                return f"Up {up} ({word})"
            return f"Up {up}"
        if self.removing:
            return "Removal In Progress"
        if self.dead:
            return "Dead"
        if self.started_at is None:
            return "Created"
        if self.finished_at is None:
            return ""
        return f"Exited ({self.exit_code}) {human_duration(now - self.finished_at)} ago"


@dataclass(slots=True)
class Entry:
    summary: Doc  # the engine's list document
    inspect: bytes | None = None  # the inspect document, JSON
    times: StateTimes | None = None
    health: str = "none"
    created: float = 0.0  # with inspect's nanoseconds: the engine orders by them
    # Rendered responses, made once per version of the documents (see `*_json`).
    item_json: bytes | None = None
    item_status: str | None = None  # the Status text item_json was rendered with
    detail_json: bytes | None = None

    def __post_init__(self) -> None:
        self.created = float(self.summary.get("Created") or 0)


@dataclass
class ContainerState:
    """The event-fed copy of the engine's containers (see the module docstring)."""

    engine: Engine
    bus: EventBus
    resync_interval: float = 60.0
    warm_concurrency: int = 4
    entries: dict[str, Entry] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    resyncs: int = 0
    _names: dict[str, str] = field(default_factory=dict)  # name (no slash) → id
    _order: list[Entry] | None = None  # newest first; None when it must be rebuilt
    _counts: tuple[int, int] | None = None  # (running, total); None: to be counted again
    _seq: int = 0
    _applied: dict[str, int] = field(default_factory=dict)  # id → seq of last applied read
    _pending: set[str] = field(default_factory=set)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # The bus's `lost_at` that the last full resync (made while the bus was connected)
    # caught up on: equal to the bus's own once the copy follows the engine again.
    _recovered_from: float | None = None

    @property
    def stale_since(self) -> float | None:
        """None while the copy follows the engine; else the time (epoch s) it stopped
        following: the event reader lost the engine and no resync has caught up since."""
        lost = self.bus.lost_at
        if lost is None or (self.bus.connected.is_set() and self._recovered_from == lost):
            return None
        return lost

    def _answers(self, stale: bool) -> bool:
        return self.ready.is_set() and (stale or self.stale_since is None)

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._watch(), name="moorage-state-watch"),
            asyncio.create_task(self._refresher(), name="moorage-state-refresh"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # -- queries (pure, no engine call) -----------------------------------------

    def _changed(self) -> None:
        self._order = None
        self._counts = None

    def counts(self) -> tuple[int, int]:
        """(running, total) of the containers held, counted once per change (GET
        /v1/hosts asks for every host on every call)."""
        if self._counts is None:
            running = sum(1 for e in self.entries.values() if e.summary.get("State") == "running")
            self._counts = running, len(self.entries)
        return self._counts

    def summaries(
        self, all: bool = False, filters: Filters | None = None, *, stale: bool = False
    ) -> list[Doc] | None:
        """The engine's `GET /containers/json` answer, from memory; None: ask the engine.

        `stale`: answer even when the copy does not follow the engine (see `stale_since`)."""
        if not self._answers(stale):
            return None
        flt = {k: list(v) for k, v in (filters or {}).items() if v}
        if not flt.keys() <= SUPPORTED_FILTERS:
            return None
        if self._order is None:
            self._order = sorted(self.entries.values(), key=lambda e: -e.created)
        now = time.time()
        out: list[Doc] = []
        for entry in self._order:
            doc = entry.summary
            if not all and doc.get("State") not in _RUNNING_STATES and "status" not in flt:
                continue
            if flt and not _matches(entry, flt):
                continue
            if entry.times is not None:
                doc = {**doc, "Status": entry.times.status_text(now)}
            out.append(doc)
        return out

    def resolve(self, ref: str) -> str | None:
        """A container's full id from its id, unique id prefix or name; None if unknown."""
        if ref in self.entries:
            return ref
        by_name = self._names.get(ref.lstrip("/"))
        if by_name is not None:
            return by_name
        if ref and _HEX.fullmatch(ref):
            hits = [cid for cid in self.entries if cid.startswith(ref)]
            if len(hits) == 1:
                return hits[0]
        return None

    def get(self, ref: str, *, stale: bool = False) -> Doc | None:
        """The engine's inspect document, from memory; None: ask the engine."""
        if not self._answers(stale):
            return None
        cid = self.resolve(ref)
        if cid is None:
            return None
        entry = self.entries[cid]
        if entry.inspect is None:
            return None
        doc: Doc = orjson.loads(entry.inspect)
        return doc

    def summaries_json(
        self,
        render: Callable[[Doc], bytes],
        all: bool = False,
        filters: Filters | None = None,
        *,
        stale: bool = False,
    ) -> bytes | None:
        """`summaries()` rendered as one JSON array; `render(doc)` runs once per version.

        `render` turns one engine list document into the route's JSON bytes (say
        `ContainerSummary.from_engine(doc).model_dump_json().encode()`); its result is
        kept until the container changes or its Status text moves on.
        """
        docs = self.summaries(all, filters, stale=stale)
        if docs is None:
            return None
        parts = []
        for doc in docs:
            entry = self.entries[doc["Id"]]
            if entry.item_json is None or entry.item_status != doc.get("Status"):
                entry.item_json = render(doc)
                entry.item_status = doc.get("Status")
            parts.append(entry.item_json)
        return b"[" + b",".join(parts) + b"]"

    def detail_json(
        self, ref: str, render: Callable[[Doc], bytes], *, stale: bool = False
    ) -> bytes | None:
        """`get(ref)` rendered by `render`, kept until the container changes."""
        if not self._answers(stale):
            return None
        cid = self.resolve(ref)
        entry = self.entries.get(cid) if cid else None
        if entry is None or entry.inspect is None:
            return None
        if entry.detail_json is None:
            entry.detail_json = render(orjson.loads(entry.inspect))
        return entry.detail_json

    async def inspect(self, ref: str) -> Doc:
        """Inspect from memory when known, else from the engine (and keep it)."""
        doc = self.get(ref)
        if doc is not None:
            return doc
        doc = await self.engine.json("GET", f"containers/{ref}/json", kind="container", ref=ref)
        assert isinstance(doc, dict)
        if self.ready.is_set() and doc.get("Id") in self.entries:
            self._store_inspect(self.entries[doc["Id"]], doc)
        return doc

    # -- read-your-writes ----------------------------------------------------------

    async def refresh(self, ref: str) -> None:
        """Read one container again now (after a change made through moorage)."""
        cid = self.resolve(ref) or ref
        self._seq += 1
        seq = self._seq
        try:
            summaries, doc = await asyncio.gather(self._list_one(cid), self._inspect_or_none(cid))
            if doc is not None and doc["Id"] != cid:  # it was a name or a short id
                cid = doc["Id"]
                summaries = await self._list_one(cid)
        except errors.ProblemError as exc:
            log.debug("refresh %s: %s", cid, exc.detail)
            return
        if self._applied.get(cid, 0) > seq:
            return  # a newer read already landed
        full_id = doc["Id"] if doc else cid
        matches = [s for s in summaries or [] if s.get("Id") == full_id]
        if not matches or doc is None:
            self._forget(full_id)
            self._applied[full_id] = seq
            return
        self._applied[full_id] = seq
        self._put(matches[0], doc)

    def note_removed(self, ref: str) -> None:
        """Forget a container (after a remove made through moorage)."""
        cid = self.resolve(ref) or ref
        self._seq += 1
        self._applied[cid] = self._seq  # reads already under way must not bring it back
        self._forget(cid)

    def _forget(self, cid: str) -> None:
        entry = self.entries.pop(cid, None)
        if entry is not None:
            for name in entry.summary.get("Names") or []:
                if self._names.get(name.lstrip("/")) == cid:
                    del self._names[name.lstrip("/")]
            self._changed()

    # -- keeping up ----------------------------------------------------------------

    async def resync(self) -> None:
        """One full list; entries not listed are dropped, inspect docs re-read lazily."""
        self._seq += 1
        seq = self._seq
        # Only a list read while the reader follows the engine catches the copy up: every
        # change after it arrives as an event.
        following, lost = self.bus.connected.is_set(), self.bus.lost_at
        docs: list[Doc] = await self.engine.json("GET", "containers/json", params={"all": True})
        seen = set()
        for doc in docs:
            cid = doc["Id"]
            seen.add(cid)
            if self._applied.get(cid, 0) > seq:
                continue
            self._applied[cid] = seq
            entry = self.entries.get(cid)
            if entry is None:
                self._index(Entry(doc))
            else:
                if entry.summary.get("State") != doc.get("State"):  # an event was missed
                    entry.inspect = entry.detail_json = None
                    entry.times = None
                entry.summary = doc
                entry.item_json = None
                entry.created = max(entry.created, float(doc.get("Created") or 0))
        for cid in [c for c in self.entries if c not in seen]:
            if self._applied.get(cid, 0) <= seq:
                self._forget(cid)
        self._applied = {c: n for c, n in self._applied.items() if c in seen or n > seq}
        self._changed()
        self.resyncs += 1
        if following:
            self._recovered_from = lost
        self.ready.set()
        self._tasks.append(asyncio.create_task(self._warm(), name="moorage-state-warm"))

    async def _warm(self) -> None:
        """Read the inspect documents not held yet, a few at a time."""
        sem = asyncio.Semaphore(self.warm_concurrency)

        async def one(cid: str) -> None:
            async with sem:
                entry = self.entries.get(cid)
                if entry is None or entry.inspect is not None:
                    return
                doc = await self._inspect_or_none(cid)
                entry = self.entries.get(cid)
                if doc is not None and entry is not None and entry.inspect is None:
                    self._store_inspect(entry, doc)

        with contextlib.suppress(errors.ProblemError):
            await asyncio.gather(*(one(cid) for cid in list(self.entries)))
        current = asyncio.current_task()
        self._tasks = [t for t in self._tasks if t is not current]

    async def _watch(self) -> None:
        """Follow the event bus; resync at start, after reconnects and periodically."""
        with self.bus.subscribe() as sub:
            need_resync = True
            while True:
                if need_resync or sub.overflowed:
                    if sub.overflowed:  # fell behind: start over from a full list
                        while not sub.queue.empty():
                            sub.queue.get_nowait()
                        sub.overflowed = False
                    try:
                        await self.resync()
                        need_resync = False
                    except errors.ProblemError as exc:
                        log.debug("state resync: %s", exc.detail)
                        await asyncio.sleep(0.5)
                        continue
                    except Exception:  # never let the watcher die
                        log.exception("state resync failed")
                        await asyncio.sleep(0.5)
                        continue
                try:
                    async with asyncio.timeout(self.resync_interval):
                        event = await sub.get()
                except TimeoutError:
                    need_resync = True
                    continue
                marker = event.get("moorage")
                if marker == "connected":
                    need_resync = event.get("resumed_from") is not None or not self.ready.is_set()
                elif marker is None and event.get("Type") == "container":
                    self._on_event(event)

    def _on_event(self, event: Doc) -> None:
        cid = (event.get("Actor") or {}).get("ID") or event.get("id")
        if not cid:
            return
        entry = self.entries.get(cid)
        if entry is not None:
            entry.inspect = entry.detail_json = None  # stale from now on
        action = str(event.get("Action") or "")
        if action == "destroy":
            self._pending.discard(cid)
            self.note_removed(cid)
            return
        if action.startswith("exec_"):
            # An exec (a health check's probe: three a check) changes what inspect says
            # (ExecIDs, the check's log), not the list's row: re-read on the next read.
            return
        health = action.partition(":")[2].strip() if action.startswith("health_status") else ""
        if entry is not None and entry.times is not None and health in HEALTH_STATES:
            # The list's row renders its Status from the times: the event says all that
            # changed (the health journal reads the check's output; no read here).
            entry.times.health = entry.health = health
            entry.item_json = None
            return
        self._pending.add(cid)
        self._wake.set()

    async def _refresher(self) -> None:
        """Re-read the containers events named, a few at a time (bursts coalesce)."""
        sem = asyncio.Semaphore(self.warm_concurrency * 2)

        async def one(cid: str) -> None:
            async with sem:
                try:
                    await self.refresh(cid)
                except Exception:  # never let the refresher die
                    log.exception("state refresh of %s failed", cid)

        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, set()
            await asyncio.gather(*(one(cid) for cid in batch))

    # -- internals -----------------------------------------------------------------

    async def _list_one(self, cid: str) -> list[Doc]:
        docs: list[Doc] = await self.engine.json(
            "GET", "containers/json", params={"all": True, "filters": {"id": [cid]}}
        )
        return docs or []

    async def _inspect_or_none(self, cid: str) -> Doc | None:
        try:
            doc: Doc | None = await self.engine.json(
                "GET", f"containers/{cid}/json", kind="container", ref=cid
            )
        except errors.NotFound:
            return None
        return doc

    def _index(self, entry: Entry) -> None:
        cid = entry.summary["Id"]
        self.entries[cid] = entry
        for name in entry.summary.get("Names") or []:
            self._names[name.lstrip("/")] = cid
        self._changed()

    def _put(self, summary: Doc, doc: Doc) -> None:
        old = self.entries.get(summary["Id"])
        if old is not None:
            self._forget(summary["Id"])  # names may have changed
        entry = Entry(summary)
        self._store_inspect(entry, doc)
        self._index(entry)

    def _store_inspect(self, entry: Entry, doc: Doc) -> None:
        # A copy: orjson's own result keeps its 32 KiB working buffer (7x the document).
        entry.inspect = memoryview(orjson.dumps(doc)).tobytes()
        entry.item_json = entry.detail_json = None
        entry.times = StateTimes.from_inspect(doc)
        entry.health = entry.times.health or "none"
        entry.created = _epoch(doc.get("Created")) or entry.created
        self._changed()


def _matches(entry: Entry, flt: dict[str, list[str]]) -> bool:
    """The engine's list filters (values of one filter OR, filters AND)."""
    doc = entry.summary
    for key, values in flt.items():
        if key == "id":
            if not any(doc["Id"].startswith(v) for v in values):
                return False
        elif key == "name":
            names = [n.lstrip("/") for n in doc.get("Names") or []]
            if not any(re.search(v.lstrip("/"), n) for v in values for n in names):
                return False
        elif key == "label":
            labels: dict[str, str] = doc.get("Labels") or {}
            for v in values:  # every label filter must hold
                k, eq, val = v.partition("=")
                if k not in labels or (eq and labels[k] != val):
                    return False
        elif key == "status":
            if doc.get("State") not in values:
                return False
        elif key == "ancestor":
            image, image_id = str(doc.get("Image") or ""), str(doc.get("ImageID") or "")
            if not any(_ancestor(v, image, image_id) for v in values):
                return False
        elif key == "network":
            nets: dict[str, Doc] = (doc.get("NetworkSettings") or {}).get("Networks") or {}
            keys = set(nets) | {str(n.get("NetworkID") or "") for n in nets.values()}
            if not any(v in keys or any(k.startswith(v) for k in keys if k) for v in values):
                return False
        elif key == "health":
            if entry.times is None and doc.get("State") == "running":
                return _health_from_status(doc) in values
            if entry.health not in values:
                return False
        elif key == "exited":
            if doc.get("State") != "exited":
                return False
            code = entry.times.exit_code if entry.times else _exit_from_status(doc)
            if str(code) not in values:
                return False
    return True


def _ancestor(value: str, image: str, image_id: str) -> bool:
    if value in (image, image_id) or image_id.removeprefix("sha256:").startswith(value):
        return True
    if ":" not in value.rsplit("/", 1)[-1]:
        return image == f"{value}:latest" or image.startswith(f"{value}@")
    return False


def _health_from_status(doc: Doc) -> str:
    status = str(doc.get("Status") or "")
    if "(healthy)" in status:
        return "healthy"
    if "(unhealthy)" in status:
        return "unhealthy"
    if "(health: starting)" in status:
        return "starting"
    return "none"


def _exit_from_status(doc: Doc) -> int | None:
    m = re.match(r"Exited \((-?\d+)\)", str(doc.get("Status") or ""))
    return int(m.group(1)) if m else None


async def list_containers(
    state: ContainerState | None,
    engine: Engine,
    *,
    all: bool = False,
    filters: Filters | None = None,
    fresh: bool = False,
) -> list[Doc]:
    """The engine's list documents: from the state when it can answer, else the engine."""
    if state is not None and not fresh:
        docs = state.summaries(all, filters)
        if docs is not None:
            return docs
    flt = {k: list(v) for k, v in (filters or {}).items() if v}
    found: list[Doc] = await engine.json(
        "GET", "containers/json", params={"all": all, "filters": flt or None}
    )
    return found


def json_response(body: bytes, stale_since: float | None = None) -> Response:
    """A read's answer; one from an out-of-date copy says since when."""
    headers = {STALE_HEADER: str(rfc3339(stale_since))} if stale_since is not None else None
    return Response(body, media_type="application/json", headers=headers)


async def _from_state_or_engine(
    state: ContainerState | None,
    engine: Engine,
    from_state: Callable[[bool], bytes | None],
    from_engine: Callable[[], Awaitable[bytes]],
    *,
    fresh: bool,
    stale: bool,
) -> Response:
    """The state's answer while it follows the engine; else the engine's. An engine the
    event reader knows is down is not asked (503 at once); with `stale` the last known
    state answers instead of a 503, marked as such."""
    if state is not None and not fresh:
        body = from_state(False)
        if body is not None:
            return json_response(body)
    if state is not None and state.bus.known_down:
        if stale and (body := from_state(True)) is not None:
            return json_response(body, state.stale_since)
        raise errors.EngineUnavailable(
            f"The engine connection was lost at {rfc3339(state.bus.lost_at)} and is not "
            "back; ask with stale=true for the last known state",
            retry_after=engine.settings.engine_retry_after,
        )
    try:
        return json_response(await from_engine())
    except errors.EngineUnavailable:
        if stale and state is not None and (body := from_state(True)) is not None:
            return json_response(body, state.stale_since or time.time())
        raise


async def list_containers_json(
    state: ContainerState | None,
    engine: Engine,
    render: Callable[[Doc], bytes],
    *,
    all: bool = False,
    filters: Filters | None = None,
    fresh: bool = False,
    stale: bool = False,
) -> Response:
    """`list_containers` as a JSON response, rendered item by item with `render` (cached
    in the state); while the engine is away, 503 or (`stale`) the last known list."""

    def from_state(stale: bool) -> bytes | None:
        assert state is not None
        return state.summaries_json(render, all, filters, stale=stale)

    async def from_engine() -> bytes:
        docs = await list_containers(None, engine, all=all, filters=filters)
        return b"[" + b",".join(render(doc) for doc in docs) + b"]"

    return await _from_state_or_engine(
        state, engine, from_state, from_engine, fresh=fresh, stale=stale
    )


async def inspect_container(
    state: ContainerState | None, engine: Engine, ref: str, *, fresh: bool = False
) -> Doc:
    """The inspect document: from the state when it holds it, else the engine (404s too)."""
    if state is not None and not fresh:
        doc = state.get(ref)
        if doc is not None:
            return doc
    found: Doc = await engine.json("GET", f"containers/{ref}/json", kind="container", ref=ref)
    return found


async def inspect_container_json(
    state: ContainerState | None,
    engine: Engine,
    ref: str,
    render: Callable[[Doc], bytes],
    *,
    fresh: bool = False,
    stale: bool = False,
) -> Response:
    """`inspect_container` as a JSON response, rendered with `render` (cached in the
    state per version); while the engine is away, 503 or (`stale`) the last known one."""

    def from_state(stale: bool) -> bytes | None:
        assert state is not None
        return state.detail_json(ref, render, stale=stale)

    async def from_engine() -> bytes:
        return render(await inspect_container(None, engine, ref))

    return await _from_state_or_engine(
        state, engine, from_state, from_engine, fresh=fresh, stale=stale
    )


async def get_container_state(request: Request, host: HostQuery = None) -> ContainerState | None:
    """The container state of the request's host; None when `state_cache` is off."""
    state: ContainerState | None = request.app.state.hosts.get(host).containers
    return state


ContainerStateDep = Annotated[ContainerState | None, Depends(get_container_state)]
