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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from app import errors
from app.engine import Engine

log = logging.getLogger("moorage.events")

Event = dict[str, Any]


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
    subscribers: set[Subscription] = field(default_factory=set)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    last_time_nano: int | None = None
    journal: deque[Event] = field(init=False)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.journal = deque(maxlen=self.journal_size)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="moorage-events")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @contextlib.contextmanager
    def subscribe(self, maxsize: int = 10_000) -> Any:
        sub = Subscription(asyncio.Queue(maxsize=maxsize))
        self.subscribers.add(sub)
        try:
            yield sub
        finally:
            self.subscribers.discard(sub)

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
            except asyncio.CancelledError:
                raise
            except errors.ProblemError as exc:
                log.debug("event stream: %s", exc.detail)
            except Exception:  # never let the reader die
                log.exception("event reader failed")
            if self.connected.is_set():
                self.connected.clear()
                self._publish({"moorage": "disconnected"})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _read_once(self) -> None:
        resumed_from = self.last_time_nano
        params: dict[str, Any] = {}
        if resumed_from is not None:
            params["since"] = f"{resumed_from // 1_000_000_000}.{resumed_from % 1_000_000_000:09d}"
        async with self.engine.request("GET", "events", params=params, long=True) as response:
            self.connected.set()
            self._publish({"moorage": "connected", "resumed_from": resumed_from})
            # The replay starts at the last event seen when the engine still has it;
            # when its first event is newer, what lay between is gone.
            checking_gap = resumed_from is not None
            async for line in response.content:
                if not line.strip():
                    continue
                try:
                    event: Event = orjson.loads(line)
                except orjson.JSONDecodeError:
                    log.warning("event stream: not JSON: %r", line[:200])
                    continue
                time_nano = int(event.get("timeNano") or 0)
                # Replay from `since` includes the boundary event: drop what we had.
                if resumed_from is not None and time_nano <= resumed_from:
                    checking_gap = False
                    continue
                if checking_gap:
                    checking_gap = False
                    log.warning(
                        "event stream: events between %s and %s lost", resumed_from, time_nano
                    )
                    self._publish({"moorage": "gap", "after": resumed_from, "before": time_nano})
                self.last_time_nano = max(time_nano, self.last_time_nano or 0)
                self.journal.append(event)
                self._publish(event)

    async def events(self, sub: Subscription) -> AsyncIterator[Event]:
        while True:
            yield await sub.get()
