"""The sender: takes due deliveries from the outbox and POSTs them, apart from the
evaluation (a slow or dead receiver delays only its own deliveries, never a stream).

Each try: at most `webhook_timeout` s in all, at most `webhook_max_response_bytes`
of the answer read, redirects followed only to the same origin and inside the allow
list. A 2xx delivers; anything else is tried again after an exponential back-off
with jitter, until the delivery is `webhook_max_age` s old (then `expired`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from urllib.parse import urljoin, urlsplit

import aiohttp

from app.alerts.formats import render
from app.alerts.store import AlertStore, OutboxRow
from app.services.events import cancel_and_wait
from app.settings import Settings

log = logging.getLogger("moorage.alerts")

MAX_REDIRECTS = 3
POLL = 1.0  # how often the outbox is read without a wake-up (others' rows, retries)


def url_allowed(url: str, prefixes: list[str]) -> bool:
    """Whether `url` starts with one of `prefixes`, cut at a URL boundary: the prefix
    `http://hooks.local:9000` does not allow `http://hooks.local:90001/` nor
    `http://hooks.local:9000@evil/`; no user info, http(s) only."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return False
    if any(c in url for c in "\r\n\t ") or "\\" in url:
        return False
    for prefix in prefixes:
        if not prefix or not url.startswith(prefix):
            continue
        rest = url[len(prefix) :]
        if prefix.endswith(("/", "?", "&", "=")) or rest == "" or rest[0] in "/?#":
            return True
    return False


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def backoff(tries: int, base: float, cap: float) -> float:
    """The wait after the `tries`-th failure: doubling from `base` up to `cap`, each
    between half and all of it (jitter: retries of many deliveries spread out)."""
    step = min(cap, base * float(2 ** min(tries - 1, 40)))
    return step * (0.5 + random.random() / 2)


class Sender:
    def __init__(self, store: AlertStore, settings: Settings, owner: str) -> None:
        self.store = store
        self.settings = settings
        self.owner = owner
        self.wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()  # tries, each holding a slot
        self._recording: set[asyncio.Task[None]] = set()  # tries done, their record written
        self._reserved = 0  # slots held for rows being raised (`reserve` / `hand`)
        # Rows may wait in the outbox untaken (written without a slot, or a claim took
        # as many as it could): a slot that frees reads the outbox at once, else the
        # next poll does (retries coming due, other processes' rows).
        self._backlog = True
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.settings.webhook_concurrency),
            auto_decompress=False,
            trust_env=False,  # no proxy from the environment: the allow list is the truth
        )
        self._task = asyncio.create_task(self._run(), name="moorage-alerts-sender")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        for task in list(self._inflight):
            task.cancel()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._recording:  # a try not recorded is tried again once its lease is over
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await asyncio.gather(*self._recording, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def poke(self) -> None:
        """Something was put in the outbox untaken: look now, not at the next poll."""
        self._backlog = True
        self.wake.set()

    @property
    def lease(self) -> float:
        """How long a taken row is this process's (a try's longest, and then some)."""
        return self.settings.webhook_timeout + 5.0

    def reserve(self) -> bool:
        """Hold a slot for a row about to be raised and taken by this process; False
        when none is free (the row is then written untaken, for the next claim). Every
        True is followed by `hand` or `release`."""
        if self._task is None or self._free() <= 0:
            return False
        self._reserved += 1
        return True

    def release(self) -> None:
        self._reserved -= 1
        if self._backlog:
            self.wake.set()

    def hand(self, row: OutboxRow) -> None:
        """A row this process raised and took (its lease in the same write): its first
        try now, from memory, with the slot `reserve` held for it."""
        self._reserved -= 1
        self._start(row)

    def _free(self) -> int:
        return self.settings.webhook_concurrency - len(self._inflight) - self._reserved

    def _start(self, row: OutboxRow) -> None:
        task = asyncio.create_task(self._deliver(row))
        self._inflight.add(task)
        task.add_done_callback(self._done)

    async def _run(self) -> None:
        while True:
            free = self._free()
            rows: list[OutboxRow] = []
            if free > 0:
                self._backlog = False  # before the read: a row written meanwhile says so
                try:
                    rows = await self.store.claim(self.owner, time.time(), self.lease, free)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the database is away: try again later
                    log.warning("alerts: reading the outbox failed: %s", exc)
                    self._backlog = True
            for row in rows:
                self._start(row)
            if rows and len(rows) == free:
                self._backlog = True
                continue  # more may be due
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL):
                    await self.wake.wait()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("alerts: a delivery failed: %r", task.exception())
        if self._backlog:
            self.wake.set()  # a slot is free for a row that waits

    def _recorded(self, task: asyncio.Task[None]) -> None:
        self._recording.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("alerts: a try was not recorded: %r", task.exception())

    async def _deliver(self, row: OutboxRow) -> None:
        """One try; its slot (a request at the receiver) is free once it is answered,
        and its record is written apart (a slow database holds up no other try)."""
        body, headers = render(row.format, row.alert, row.secret)
        start = time.time()
        t0 = time.monotonic()
        code, error = await self._post(row.url, body, headers)
        duration = time.monotonic() - t0
        task = asyncio.create_task(self._record(row, start, code, error, duration))
        self._recording.add(task)
        task.add_done_callback(self._recorded)

    async def _record(
        self, row: OutboxRow, start: float, code: int | None, error: str | None, duration: float
    ) -> None:
        delivered = code is not None and 200 <= code < 300 and error is None
        next_try: float | None = None
        if not delivered:
            wait = backoff(
                row.tries + 1, self.settings.webhook_backoff_base, self.settings.webhook_backoff_max
            )
            if time.time() + wait - row.created <= self.settings.webhook_max_age:
                next_try = time.time() + wait
            log.info("alerts: delivery %s to %s failed (%s %s)", row.id, row.url, code, error)
        await self.store.record_try(
            row,
            ts=start,
            delivered=delivered,
            code=code,
            error=error,
            duration=duration,
            next_try=next_try,
        )

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        """The receiver's status (None if it did not answer) and what went wrong."""
        assert self._session is not None
        allow = self.settings.webhook_allow
        limit = self.settings.webhook_max_response_bytes
        try:
            async with asyncio.timeout(self.settings.webhook_timeout):
                for hop in range(MAX_REDIRECTS + 1):
                    async with self._session.post(
                        url, data=body, headers=headers, allow_redirects=False
                    ) as resp:
                        await resp.content.read(limit)  # the rest is never read
                        if not 300 <= resp.status < 400:
                            return resp.status, None
                        target = urljoin(url, resp.headers.get("Location", ""))
                        if (
                            hop == MAX_REDIRECTS
                            or not same_origin(url, target)
                            or not url_allowed(target, allow)
                        ):
                            return resp.status, f"redirect to {target[:200]} not followed"
                        url = target
        except TimeoutError:
            return None, f"no answer within {self.settings.webhook_timeout:g} s"
        except aiohttp.ClientError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        except ValueError as exc:  # a URL aiohttp cannot use
            return None, f"bad URL: {exc}"[:500]
        return None, "too many redirects"
