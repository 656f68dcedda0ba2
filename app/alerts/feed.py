"""The live alerts for `GET /v1/alerts/stream`: pushed to every client when an alert
is raised in this process, the outbox still the source of truth.

    push      an alert raised here is encoded once and put in every client's queue
              at once (no client reads the database for it)
    poll      alerts raised by another worker or replica reach this process through
              one read of the outbox every POLL s for all clients (none while nobody
              listens), an overlap of LAG s catching rows committed late; an id
              already published is not published again
    resume    a client's Last-Event-ID (an alert's raising time) is read from the
              outbox, and so is whatever a client fell behind on (its queue is
              bounded: on overflow it reads the outbox again from its last alert)
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from app.alerts.store import AlertStore
from app.services.events import cancel_and_wait
from app.streams import encode

POLL = 2.0  # others' alerts are read this often while someone listens (s)
LAG = 5.0  # a row committed this much later than its time is still seen (s)
PAGE = 500  # rows per outbox read
SEEN = 50_000  # ids remembered as published (at least LAG s of any burst)


@dataclass(frozen=True)
class Raised:
    """One alert as the stream sends it: its id, its raising time (the event id) and
    its encoded `event: alert`."""

    id: str
    created: float
    data: bytes

    @classmethod
    def of(cls, alert_id: str, created: float, alert: dict[str, Any]) -> Raised:
        return cls(alert_id, created, encode("alert", alert, id=repr(created)))


@dataclass(eq=False)
class Listener:
    """One client's queue of pushed alerts; `behind` once it overflowed."""

    maxsize: int
    queue: deque[Raised] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    behind: bool = False

    def put(self, raised: Raised) -> None:
        if self.behind:
            return
        if len(self.queue) >= self.maxsize:
            self.queue.clear()  # what it missed is read from the outbox instead
            self.behind = True
        else:
            self.queue.append(raised)
        self.wake.set()

    def take(self) -> list[Raised]:
        items = list(self.queue)
        self.queue.clear()
        self.wake.clear()
        return items


class AlertFeed:
    def __init__(self, store: AlertStore, queue_size: int, poll: float = POLL) -> None:
        self.store = store
        self.queue_size = queue_size
        self.poll = poll
        self.listeners: set[Listener] = set()
        self.polls = 0  # outbox reads made by the poll (for tests: one for N clients)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def publish(self, raised: Raised) -> None:
        """An alert is in the outbox: to every listener (once per id)."""
        if not self.listeners or raised.id in self._seen:
            return  # nobody listens: a stream that starts reads the outbox first
        self._seen[raised.id] = None
        if len(self._seen) > SEEN:
            self._seen.popitem(last=False)
        for listener in self.listeners:
            listener.put(raised)

    async def stream(self, after: float) -> AsyncIterator[bytes]:
        """`event: alert` for each alert raised after `after`, id its raising time:
        the outbox from `after` first, then what is pushed."""
        listener = Listener(self.queue_size)
        self.listeners.add(listener)  # before the outbox is read: nothing falls between
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll(), name="moorage-alerts-feed")
        sent: dict[str, float] = {}  # ids this stream sent lately: no alert twice
        last = after
        read_from: float | None = after  # the outbox is read from here (None: live)
        try:
            while True:
                if read_from is not None:
                    rows = await self.store.alerts_after(read_from, PAGE)
                    fresh = [r for r in rows if r.id not in sent]
                    read_from = rows[-1].created if len(rows) == PAGE else None
                    if fresh:
                        for r in fresh:
                            sent[r.id] = r.created
                            last = max(last, r.created)
                        _prune(sent, last)
                        yield b"".join(Raised.of(r.id, r.created, r.alert).data for r in fresh)
                    continue
                if listener.behind:
                    # Overflowed: read again, from a little before the newest sent (a
                    # row of another process may be older); `sent` drops the repeats.
                    listener.behind = False
                    read_from = max(after, last - LAG)
                    continue
                pushed = [p for p in listener.take() if p.created > after and p.id not in sent]
                if pushed:
                    for p in pushed:
                        sent[p.id] = p.created
                        last = max(last, p.created)
                    _prune(sent, last)
                    yield b"".join(p.data for p in pushed)
                    continue
                await listener.wake.wait()
        finally:
            self.listeners.discard(listener)

    async def _poll(self) -> None:
        cursor = time.time()
        while self.listeners:
            await asyncio.sleep(self.poll)
            since = cursor - LAG
            while self.listeners:
                self.polls += 1
                try:
                    rows = await self.store.alerts_after(since, PAGE)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the database is away: the next poll reads it
                    break
                for r in rows:
                    if r.id not in self._seen:
                        self.publish(Raised.of(r.id, r.created, r.alert))
                if rows:
                    since = rows[-1].created
                    cursor = max(cursor, since)
                if len(rows) < PAGE:
                    break


def _prune(sent: dict[str, float], last: float) -> None:
    """Forget ids sent long before the newest (no repeat of theirs comes any more)."""
    if len(sent) > 2 * PAGE:
        for key in [k for k, created in sent.items() if created < last - 2 * LAG]:
            del sent[key]
