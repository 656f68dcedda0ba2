"""The evaluators of one host: each reads what moorage already follows, never an engine
connection of its own per rule.

    health   the host's health journal (the same one health streams read)
    event    the host's event bus (one engine `/events` reader per host)
    log      the shared log hubs: one follower per container in some log rule's
             scope, joined to the same hub as every viewer of that container's logs
    stats    the shared stats hubs, the same way
    host     the host's state, read once a second

A follower dispatches each line or sample to every rule that wants it, so ten rules
on one container are one hub subscription. Raising an alert is a database write
(app/alerts/store.py); sending is the sender's business, not the evaluator's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from app import errors
from app.alerts.rules import CompiledRule, EventWhen, HealthWhen, HostWhen, LogWhen, StatsWhen
from app.engine import Engine
from app.models.alerts import AlertState
from app.services import live
from app.services.events import EventBus
from app.services.health import health_report
from app.services.health_journal import HealthChange, HealthJournal
from app.streams import HubRegistry, Subscriber

if TYPE_CHECKING:
    from app.state import ContainerState

log = logging.getLogger("moorage.alerts")

LINE_MAX = 8192  # of a log line, at most this is matched
REASON_MAX = 1000
RECONCILE = 5.0  # followers are checked against the running containers this often (s)
HOST_POLL = 1.0
# Containers' health changes evaluated at once: most of a change's time is waiting (for
# the check's output, up to OUTPUT_WAIT; for the outbox write, batched with the others).
RAISE_CONCURRENCY = 256
OUTPUT_WAIT = 0.25  # s after the event: how long a health alert waits for the check's output


class HostView(Protocol):
    """What alerting needs of a host (app/hosts.py `Host`)."""

    @property
    def name(self) -> str: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def events(self) -> EventBus: ...
    @property
    def health(self) -> HealthJournal: ...
    @property
    def hubs(self) -> HubRegistry: ...
    @property
    def containers(self) -> ContainerState | None: ...
    @property
    def state(self) -> str: ...


@dataclass(frozen=True)
class Seen:
    """Where an alert comes from: its host and container, and when."""

    host: str
    container_id: str
    container_name: str
    time: float


Fire = Callable[[CompiledRule, Seen, AlertState, str, str | None], Awaitable[bool]]


def _name(doc: dict[str, Any]) -> str:
    names = doc.get("Names")
    if isinstance(names, list) and names:
        return str(names[0]).lstrip("/")
    return str(doc.get("Name") or "").lstrip("/")


def _health_reason(status: str, previous: str | None, output: str) -> str:
    reason = f"health {status}"
    if previous:
        reason += f" (was {previous})"
    if output := output.strip():
        reason += f": {output[:200]}"
    return reason


class HostWatch:
    """Every evaluator of one host; `rules()` is read afresh at each decision."""

    def __init__(
        self,
        host: HostView,
        rules: Callable[[], list[CompiledRule]],
        fire: Fire,
        *,
        queue_size: int,
        logs_buffer: int,
        look_back: float,
    ) -> None:
        self.host = host
        self.rules = rules
        self.fire = fire
        self.queue_size = queue_size
        self.logs_buffer = logs_buffer
        self.look_back = look_back
        self.started_ns = time.time_ns()
        self.followers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._reconcile = asyncio.Event()
        self._rescan = True  # the health of every container is read afresh
        self._rescan_now = asyncio.Event()
        # (rule, container) → firing as this process last decided (None: not known yet,
        # as after a restart: the first look decides, and the store drops a repeat).
        self._firing: dict[tuple[str, str], bool] = {}
        self._above_since: dict[tuple[str, str], float] = {}
        self._health_queues: dict[str, deque[HealthChange]] = {}  # containers' changes to do
        self._chains: set[asyncio.Task[None]] = set()
        self._raise_slots = asyncio.Semaphore(RAISE_CONCURRENCY)

    def _of(self, kind: str) -> list[CompiledRule]:
        name = self.host.name
        return [r for r in self.rules() if r.enabled and r.kind == kind and r.on_host(name)]

    async def start(self) -> None:
        bus_sub = self.host.events.open(self.queue_size)
        self.host.health.listeners.add(self._on_change)
        self._tasks = [
            asyncio.create_task(self._events(bus_sub), name=f"alerts-events-{self.host.name}"),
            asyncio.create_task(self._health(), name=f"alerts-health-{self.host.name}"),
            asyncio.create_task(self._host_state(), name=f"alerts-host-{self.host.name}"),
            asyncio.create_task(self._follow(), name=f"alerts-follow-{self.host.name}"),
        ]

    async def stop(self) -> None:
        self.host.health.listeners.discard(self._on_change)
        tasks = self._tasks + list(self.followers.values()) + list(self._chains)
        self._tasks, self.followers = [], {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def rules_changed(self, changed: set[str]) -> None:
        """Rules were added, changed or removed: what this process knew of them is
        forgotten (a changed rule starts afresh, as its stored state does), health is
        read again, followers are planned again."""
        self._firing = {k: v for k, v in self._firing.items() if k[0] not in changed}
        self._above_since = {k: v for k, v in self._above_since.items() if k[0] not in changed}
        self._reconcile.set()
        self._rescan = True
        self._rescan_now.set()

    async def _decide(
        self, rule: CompiledRule, seen: Seen, firing: bool, reason: str, *, force: bool = False
    ) -> None:
        """A condition's state for (rule, container): a change raises firing/resolved."""
        key = (rule.id, seen.container_id)
        known = self._firing.get(key)
        if known == firing and not force:
            return
        await self.fire(rule, seen, "firing" if firing else "resolved", reason, None)
        self._firing[key] = firing  # after the store took it: a failed raise is tried again

    # -- health ------------------------------------------------------------------------
    #
    # Each change comes from the journal's reader the moment it reads the engine's
    # event (`_on_change`), not from the journal's entries: those wait for their turn,
    # in order, behind every earlier change's inspect. Each container's changes are
    # evaluated in order, the containers side by side.

    def _on_change(self, change: HealthChange) -> None:
        if change.lost:  # changes may have gone by unseen: read them all again
            self._rescan = True
            self._rescan_now.set()
            return
        if not self._of("health"):
            return
        queue = self._health_queues.get(change.cid)
        if queue is not None:
            queue.append(change)
            return
        self._health_queues[change.cid] = deque([change])
        task = asyncio.create_task(self._health_chain(change.cid), name="alerts-health-change")
        self._chains.add(task)
        task.add_done_callback(self._chains.discard)

    async def _health_chain(self, cid: str) -> None:
        queue = self._health_queues[cid]
        try:
            async with self._raise_slots:
                while queue:
                    try:
                        await self._health_change(queue.popleft())
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("alerts: health evaluation on %s", self.host.name)
        finally:
            del self._health_queues[cid]

    async def _health_change(self, change: HealthChange) -> None:
        at = change.tn / 1e9 if change.tn else time.time()  # the engine's event time
        seen = Seen(self.host.name, change.cid, str(change.attributes.get("name") or ""), at)
        if change.removed:
            await self._health_removed(seen)
            return
        labels = self._labels(change.cid, change.attributes)
        turns = self._health_turns(seen, labels, change.status)
        if not turns:
            return
        # Something is to be raised: with the check's output if the journal's inspect
        # answers in time, else without it.
        doc = await change.inspected(OUTPUT_WAIT)
        report = health_report(doc) if doc is not None else None
        output = report.log[-1].output if report and report.log else ""
        reason = _health_reason(change.status, change.previous, output)
        for rule, firing in turns:
            await self._decide(rule, seen, firing, reason)

    def _labels(self, cid: str, attributes: dict[str, str]) -> dict[str, str]:
        """A container's labels: from the container state (the event's attributes mix
        them with its `name` and `image`), else from the attributes."""
        state = self.host.containers
        entry = state.entries.get(cid) if state is not None else None
        if entry is not None:
            return dict(entry.summary.get("Labels") or {})
        return {k: v for k, v in attributes.items() if k not in ("name", "image")}

    def _health_turns(
        self, seen: Seen, labels: dict[str, str], status: str
    ) -> list[tuple[CompiledRule, bool]]:
        """The health rules in scope whose condition this status changes, each with
        whether it now fires."""
        turns = []
        for rule in self._of("health"):
            assert isinstance(rule.when, HealthWhen)
            firing = status in rule.when.status
            if (
                rule.on_container(seen.container_name, labels)
                and self._firing.get((rule.id, seen.container_id)) != firing
            ):
                turns.append((rule, firing))
        return turns

    async def _health_removed(self, seen: Seen) -> None:
        """The container was removed: whatever fired on it is over."""
        for rule in self._of("health"):
            if self._firing.get((rule.id, seen.container_id)):
                await self._decide(rule, seen, False, "container removed")

    async def _health(self) -> None:
        """The health of every container read afresh when asked (at start, when the
        rules change, when the journal lost changes), once the host is up."""
        while True:
            try:
                self._rescan_now.clear()
                if self._rescan and (self.host.state == "up" or not self._of("health")):
                    self._rescan = False
                    await self._health_scan()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(HOST_POLL if self._rescan else None):
                        await self._rescan_now.wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alerts: health evaluation on %s", self.host.name)
                await asyncio.sleep(1)

    async def _health_scan(self) -> None:
        """The current health of every container with a check (at start, and when the
        rules change): a container unhealthy already fires now."""
        if not self._of("health"):
            return
        for status in ("starting", "healthy", "unhealthy"):
            try:
                rows = await self.host.engine.json(
                    "GET", "containers/json", params={"filters": {"health": [status]}}
                )
            except errors.ProblemError as exc:
                log.debug("alerts: health scan on %s: %s", self.host.name, exc.detail)
                return
            for row in rows or []:
                seen = Seen(self.host.name, str(row["Id"]), _name(row), time.time())
                labels = dict(row.get("Labels") or {})
                for rule, firing in self._health_turns(seen, labels, status):
                    await self._decide(rule, seen, firing, _health_reason(status, None, ""))

    # -- events ------------------------------------------------------------------------

    async def _events(self, sub: Any) -> None:
        bus = self.host.events
        try:
            while True:
                event = await sub.get()
                if sub.overflowed and sub.queue.empty():
                    bus.subscribers.discard(sub)
                    log.warning("alerts: fell behind the events of %s", self.host.name)
                    sub = bus.open(self.queue_size)
                    continue
                if "moorage" in event:
                    continue
                try:
                    await self._event(event)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("alerts: event evaluation on %s", self.host.name)
        finally:
            bus.subscribers.discard(sub)

    async def _event(self, event: dict[str, Any]) -> None:
        etype = str(event.get("Type") or "")
        action = str(event.get("Action") or "")
        if etype == "container" and action == "start":
            self._reconcile.set()  # a log or stats rule may want it, from its first line
        rules = self._of("event")
        if not rules:
            return
        actor = event.get("Actor") or {}
        attrs: dict[str, str] = dict(actor.get("Attributes") or {})
        cid = str(actor.get("ID") or "")
        labels = attrs
        state = self.host.containers
        if etype == "container" and state is not None:
            # Labels as the container has them: the event flattens them in with its
            # own attributes (a label called `name` or `exitCode` would collide).
            doc = state.get(cid, stale=True)
            if doc is not None:
                labels = dict((doc.get("Config") or {}).get("Labels") or {})
        name = str(attrs.get("name") or "").lstrip("/")
        tn = int(event.get("timeNano") or 0)
        seen = Seen(self.host.name, cid, name, tn / 1e9 if tn else time.time())
        for rule in rules:
            when = rule.when
            assert isinstance(when, EventWhen)
            if etype != when.type or action not in when.action:
                continue  # the action exactly: `exec_die` is not `die`
            exit_code = attrs.get("exitCode")
            if when.exit_code_nonzero and (exit_code is None or exit_code == "0"):
                continue
            if etype == "container" and not rule.on_container(name, labels):
                continue
            reason = f"{etype} {action}"
            if exit_code is not None:
                reason += f" (exit code {exit_code})"
            await self.fire(rule, seen, "firing", reason, f"{tn}:{action}")

    # -- host --------------------------------------------------------------------------

    async def _host_state(self) -> None:
        while True:
            state = self.host.state
            rules = self._of("host")
            seen = Seen(self.host.name, "", "", time.time())
            for rule in rules:
                assert isinstance(rule.when, HostWhen)
                firing = state in rule.when.state
                try:
                    await self._decide(rule, seen, firing, f"host {self.host.name} is {state}")
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("alerts: host evaluation on %s", self.host.name)
                    self._firing.pop((rule.id, ""), None)
            await asyncio.sleep(HOST_POLL)

    # -- followers: logs and stats on the shared hubs ------------------------------------

    async def _follow(self) -> None:
        while True:
            try:
                await self._plan()
            except asyncio.CancelledError:
                raise
            except errors.ProblemError as exc:
                log.debug("alerts: listing %s: %s", self.host.name, exc.detail)
            except Exception:
                log.exception("alerts: planning followers on %s", self.host.name)
            self._reconcile.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RECONCILE):
                    await self._reconcile.wait()

    async def _plan(self) -> None:
        wanted: dict[tuple[str, str], dict[str, Any]] = {}
        kinds = {k: self._of(k) for k in ("log", "stats")}
        if self.host.state != "up":
            return  # never a connect spent on a host known down (or disabled)
        if any(kinds.values()):
            rows = await self.host.engine.json(
                "GET", "containers/json", params={"filters": {"status": ["running"]}}
            )
            for row in rows or []:
                name, labels = _name(row), dict(row.get("Labels") or {})
                for kind, rules in kinds.items():
                    if any(r.on_container(name, labels) for r in rules):
                        wanted[(kind, str(row["Id"]))] = row
        for key in [k for k, t in self.followers.items() if k not in wanted or t.done()]:
            task = self.followers.pop(key)
            if not task.done():
                task.cancel()
        for key, row in wanted.items():
            if key not in self.followers:
                run = self._follow_logs if key[0] == "log" else self._follow_stats
                self.followers[key] = asyncio.create_task(
                    run(key[1], row), name=f"alerts-{key[0]}-{key[1][:12]}"
                )

    async def _follow_logs(self, cid: str, row: dict[str, Any]) -> None:
        engine = self.host.engine
        name = _name(row)
        labels = dict(row.get("Labels") or {})
        try:
            doc = await engine.json("GET", f"containers/{cid}/json", kind="container", ref=cid)
        except errors.NotFound:
            return
        tty = bool((doc.get("Config") or {}).get("Tty"))
        created = live.container_created_ns(doc)
        # Lines from before alerting started are history, not news; a container
        # younger than that is read from its first line (its start is news).
        floor = 0 if created >= self.started_ns else self.started_ns
        start = live.LogStart.of(None, live.LogQuery(), None, created, self.look_back)
        producer = live.logs_producer(engine, cid, tty, start, self.logs_buffer)
        sub = Subscriber(maxsize=self.queue_size)
        async with self.host.hubs.subscribe("logs", cid, producer, sub):
            async for items in sub.batches():
                for item in items:
                    chunk = item.meta
                    if item.last or not isinstance(chunk, live.LogChunk):
                        continue
                    await self._lines(cid, name, labels, chunk, floor)

    async def _lines(
        self, cid: str, name: str, labels: dict[str, str], chunk: live.LogChunk, floor: int
    ) -> None:
        rules = [r for r in self._of("log") if r.on_container(name, labels)]
        if not rules:
            return
        batch = chunk.batch
        for i, raw in enumerate(batch.raw):
            ns = batch.ns[i]
            if ns < floor:
                continue
            stream = batch.stream[i]
            line = raw[:LINE_MAX].decode(errors="replace")
            for rule in rules:
                assert isinstance(rule.when, LogWhen)
                assert rule.regex is not None
                if rule.when.stream not in ("both", stream) or not rule.regex.search(line):
                    continue
                seen = Seen(self.host.name, cid, name, ns / 1e9)
                reason = f"{stream}: {line[:REASON_MAX]}"
                await self.fire(rule, seen, "firing", reason, f"{ns}-{batch.seq[i]}")

    async def _follow_stats(self, cid: str, row: dict[str, Any]) -> None:
        name = _name(row)
        labels = dict(row.get("Labels") or {})
        sub = Subscriber(maxsize=self.queue_size)
        producer = live.stats_producer(self.host.engine, cid)
        try:
            async with self.host.hubs.subscribe("stats", cid, producer, sub):
                async for items in sub.batches():
                    # Only the newest sample counts: a burst after a stall is old news.
                    samples = [it for it in items if not it.last]
                    if samples:
                        data = samples[-1].data.split(b"data: ", 1)[1]
                        await self._sample(cid, name, labels, orjson.loads(data))
        finally:
            # The container stopped (or left every rule's scope): its episodes end.
            seen = Seen(self.host.name, cid, name, time.time())
            for rule in self._of("stats"):
                self._above_since.pop((rule.id, cid), None)
                if self._firing.get((rule.id, cid)):
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._decide(rule, seen, False, "container stopped"))

    async def _sample(
        self, cid: str, name: str, labels: dict[str, str], sample: dict[str, Any]
    ) -> None:
        now = time.time()
        seen = Seen(self.host.name, cid, name, now)
        for rule in self._of("stats"):
            when = rule.when
            assert isinstance(when, StatsWhen)
            if not rule.on_container(name, labels):
                continue
            value = float(sample.get(when.metric) or 0.0)
            key = (rule.id, cid)
            if value > when.above:
                since = self._above_since.setdefault(key, now)
                if now - since >= when.for_:
                    reason = (
                        f"{when.metric} {value:.1f} above {when.above:g} for {now - since:.0f} s"
                    )
                    await self._decide(rule, seen, True, reason)
            else:
                self._above_since.pop(key, None)
                reason = f"{when.metric} {value:.1f} at or below {when.above:g}"
                await self._decide(rule, seen, False, reason)
