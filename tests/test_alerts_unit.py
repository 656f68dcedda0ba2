"""The pure parts of alerting: the throttle and firing → resolved decision, the allow
list, the back-off, the wire formats and their signature, and the store's dialects
(SQLite here; PostgreSQL in tests/test_alerts_live.py)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.alerts.feed import AlertFeed, Raised
from app.alerts.formats import render, sign
from app.alerts.sender import backoff, url_allowed
from app.alerts.store import AlertStore, PairState, Raise, SqliteAlertStore, _pg, decide
from app.audit import AuditStore
from app.models.alerts import AlertState


def raise_(
    state: AlertState = "firing",
    *,
    instant: bool = False,
    throttle: float = 60,
    now: float = 1000,
    id: str = "a1",
) -> Raise:
    alert = {"id": id, "state": state}
    return Raise(
        id, "r", "local/c", state, instant, throttle, "http://x/", "json", None, alert, now
    )


def test_a_condition_fires_once_then_resolves():
    send, st = decide(PairState(), raise_())
    assert send
    assert st == PairState(True, True, 1000)
    assert decide(st, raise_(now=1001)) == (False, st)  # firing already
    send, st = decide(st, raise_("resolved", now=1002))
    assert send
    assert st == PairState(False, False, 1000)
    assert decide(st, raise_("resolved", now=1003))[0] is False  # nothing to resolve


def test_the_throttle_holds_back_a_new_episode_and_its_resolved():
    _, st = decide(PairState(), raise_(now=1000))
    _, st = decide(st, raise_("resolved", now=1010))
    send, st = decide(st, raise_(now=1020))  # within 60 s of the last sent
    assert not send
    assert st.firing
    assert not st.notified
    send, st = decide(st, raise_("resolved", now=1030))
    assert not send  # its firing never went out
    send, _ = decide(st, raise_(now=1061))
    assert send


def test_occurrences_are_throttled_per_pair_not_held_firing():
    _, st = decide(PairState(), raise_(instant=True, throttle=0))
    assert not st.firing
    assert decide(st, raise_(instant=True, throttle=0, now=1000))[0]
    _, st = decide(PairState(), raise_(instant=True, throttle=10))
    assert not decide(st, raise_(instant=True, throttle=10, now=1005))[0]
    assert decide(st, raise_(instant=True, throttle=10, now=1011))[0]


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://hooks.local:9000/x", True),
        ("http://hooks.local:9000", True),
        ("http://hooks.local:9000?x=1", True),
        ("http://hooks.local:90001/x", False),
        ("http://hooks.local:9000@evil.example/x", False),
        ("http://hooks.local:9000.evil.example/x", False),
        ("https://hooks.local:9000/x", False),
        ("http://hooks.local:9000/x\r\nHost: evil", False),
        ("file:///etc/passwd", False),
        ("http://other/x", False),
    ],
)
def test_url_allowed_cuts_at_a_url_boundary(url, ok):
    assert url_allowed(url, ["http://hooks.local:9000"]) is ok


def test_url_allowed_with_a_path_prefix_and_nothing_by_default():
    assert url_allowed("http://h/team/a", ["http://h/team/"])
    assert not url_allowed("http://h/teammate", ["http://h/team"])
    assert not url_allowed("http://h/x", [])
    assert not url_allowed("http://h/x", [""])


def test_backoff_doubles_up_to_its_cap_with_jitter():
    for tries, step in [(1, 1), (2, 2), (3, 4), (10, 30), (100, 30)]:
        waits = [backoff(tries, 1, 30) for _ in range(200)]
        assert all(step / 2 <= w <= step for w in waits)
        assert len(set(waits)) > 1  # jitter


ALERT: dict[str, Any] = {
    "id": "d1",
    "rule_id": "r1",
    "rule": "web unhealthy",
    "state": "firing",
    "host": "local",
    "container": {"id": "c1", "name": "web-1"},
    "reason": "health unhealthy",
    "time": "2026-12-01T00:00:00Z",
}


def test_json_body_and_signature():
    body, headers = render("json", ALERT, "k")
    assert json.loads(body) == ALERT
    want = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert headers["X-Moorage-Signature"] == want == sign("k", body)
    assert headers["X-Moorage-Delivery"] == "d1"
    assert render("json", ALERT, "k") == (body, headers)  # the same bytes on every retry
    assert "X-Moorage-Signature" not in render("json", ALERT, None)[1]


@pytest.mark.parametrize(("fmt", "key"), [("slack", "text"), ("discord", "content")])
def test_chat_formats_carry_the_same_facts(fmt, key):
    body, _ = render(fmt, ALERT, "k")
    text = json.loads(body)[key]
    assert text == "[FIRING] web unhealthy: local/web-1: health unhealthy"


def test_ntfy_is_plain_text_with_a_title():
    body, headers = render("ntfy", {**ALERT, "state": "resolved"}, None)
    assert body.decode() == "[RESOLVED] web unhealthy: local/web-1: health unhealthy"
    assert headers["Title"] == "moorage: web unhealthy"
    assert headers["Tags"] == "white_check_mark"


def test_discord_content_is_bounded():
    body, _ = render("discord", {**ALERT, "reason": "x" * 5000}, None)
    assert len(json.loads(body)["content"]) == 2000


def test_placeholders_for_postgresql():
    assert _pg("a = ? AND b IN (?, ?)") == "a = $1 AND b IN ($2, $3)"


async def test_sqlite_outbox_raise_claim_and_lease():
    audit = AuditStore(":memory:")  # alerting shares the audit store's connection
    await audit.open()
    store = AlertStore(SqliteAlertStore(audit))
    await store.open()
    try:
        assert await store.raise_alert(raise_(instant=True, throttle=0, id="x"))
        # The same occurrence again (another replica, a restart): one row.
        assert not await store.raise_alert(raise_(instant=True, throttle=0, id="x"))
        (row,) = await store.claim("me", 1000, 30, 10)
        assert row.id == "x"
        assert await store.claim("other", 1010, 30, 10) == []  # leased
        (again,) = await store.claim("other", 1031, 30, 10)  # the lease ran out
        await store.record_try(
            again, ts=1031, delivered=False, code=500, error=None, duration=0.1, next_try=1040
        )
        assert await store.claim("other", 1035, 30, 10) == []  # not due
        (third,) = await store.claim("other", 1040, 30, 10)
        assert third.tries == 1
        await store.record_try(
            third, ts=1040, delivered=True, code=200, error=None, duration=0.1, next_try=None
        )
        assert await store.claim("other", 9999, 30, 10) == []
        ((done, tries),) = await store.deliveries(None, None, 10)
        assert done.status == "delivered"
        assert [(t[1], t[3], t[4]) for t in tries] == [(1, "failed", 500), (2, "delivered", 200)]
    finally:
        await store.close()
        await audit.close()


async def test_sqlite_writes_waiting_together_are_one_transaction_each_on_its_own():
    audit = AuditStore(":memory:")
    await audit.open()
    store = AlertStore(SqliteAlertStore(audit))
    await store.open()
    calls = 0
    call = audit.call

    async def counted(fn: Callable[..., Any]) -> Any:
        nonlocal calls
        calls += 1
        return await call(fn)

    audit.call = counted  # type: ignore[method-assign]
    try:
        ids = [f"b{i}" for i in range(50)]
        results = await asyncio.gather(
            *(store.raise_alert(raise_(instant=True, throttle=0, id=i)) for i in ids),
            store.raise_alert(raise_(instant=True, throttle=0, id="b7")),  # a repeat: no row
            store.db.execute_all([("INSERT INTO no_such_table VALUES (1)", ())]),
            return_exceptions=True,
        )
        assert results[:50] == [True] * 50
        assert results[50] is False
        assert isinstance(results[51], sqlite3.OperationalError)  # that write alone failed
        assert calls <= 2  # the first write's batch, then all that waited meanwhile
        claimed = await store.claim("me", 1000, 30, 100)
        assert sorted(row.id for row in claimed) == sorted(ids)
    finally:
        await store.close()
        await audit.close()


# -- the live stream's feed (app/alerts/feed.py), on a real SQLite outbox ----------------


@contextlib.asynccontextmanager
async def sqlite_alerts(path: str = ":memory:") -> AsyncIterator[AlertStore]:
    audit = AuditStore(path)
    await audit.open()
    store = AlertStore(SqliteAlertStore(audit))
    await store.open()
    try:
        yield store
    finally:
        await store.close()
        await audit.close()


async def raise_here(feed: AlertFeed, store: AlertStore, alert_id: str, now: float) -> None:
    """What `Alerting.fire` does once the store took an alert: into the outbox, pushed."""
    r = raise_(instant=True, throttle=0, id=alert_id, now=now)
    assert await store.raise_alert(r)
    feed.publish(Raised.of(r.id, r.now, r.alert))


async def collect(stream: AsyncIterator[bytes], into: list[tuple[str, str]]) -> None:
    async for chunk in stream:
        for block in chunk.decode().strip().split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines())
            into.append((lines["id"], json.loads(lines["data"])["id"]))


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not check():  # noqa: ASYNC110 (what is waited for has no event of its own)
            await asyncio.sleep(0.01)


async def test_feed_pushes_to_every_client_without_reading_the_outbox_again():
    async with sqlite_alerts() as store:
        feed = AlertFeed(store, queue_size=100, poll=3600)  # no poll: a push or nothing
        got: list[list[tuple[str, str]]] = [[], [], []]
        tasks = [asyncio.create_task(collect(feed.stream(500), g)) for g in got]
        await until(lambda: len(feed.listeners) == 3)
        reads = 0
        real = store.alerts_after

        async def counted(created: float, limit: int) -> list[Any]:
            nonlocal reads
            reads += 1
            return await real(created, limit)

        store.alerts_after = counted  # type: ignore[method-assign]
        await asyncio.sleep(0.1)  # every stream read the (empty) outbox once, before
        await raise_here(feed, store, "a", 1000.5)
        await raise_here(feed, store, "b", 1001.25)
        await until(lambda: all(len(g) == 2 for g in got))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await feed.stop()
    assert all(g == [("1000.5", "a"), ("1001.25", "b")] for g in got)
    assert reads == 0  # three clients, two alerts: no read at all
    assert feed.polls == 0


async def test_feed_resumes_exactly_from_the_outbox():
    async with sqlite_alerts() as store:
        feed = AlertFeed(store, queue_size=100, poll=3600)
        for i, now in enumerate((1000.1, 1000.2, 1000.3)):
            await raise_here(feed, store, f"old-{i}", now)  # nobody listened
        got: list[tuple[str, str]] = []
        task = asyncio.create_task(collect(feed.stream(1000.1), got))  # Last-Event-ID
        await until(lambda: len(got) == 2)
        await raise_here(feed, store, "new", 1000.4)
        await until(lambda: len(got) == 3)
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await feed.stop()
    assert got == [("1000.2", "old-1"), ("1000.3", "old-2"), ("1000.4", "new")]


async def test_feed_client_that_overflows_reads_the_outbox_and_misses_nothing():
    async with sqlite_alerts() as store:
        feed = AlertFeed(store, queue_size=2, poll=3600)
        stream = feed.stream(0)

        async def next_chunk() -> bytes:
            return await anext(stream)

        first = asyncio.create_task(next_chunk())
        await until(lambda: len(feed.listeners) == 1)
        await asyncio.sleep(0.1)  # it read the empty outbox and waits
        await raise_here(feed, store, "a0", 1000.0)
        assert b"a0" in await first
        for i in range(1, 6):  # the client reads nothing meanwhile: its queue overflows
            await raise_here(feed, store, f"a{i}", 1000.0 + i)
        listener = next(iter(feed.listeners))
        assert listener.behind
        got: list[tuple[str, str]] = []
        task = asyncio.create_task(collect(stream, got))
        await until(lambda: len(got) == 5)
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await feed.stop()
    assert [a for _, a in got] == ["a1", "a2", "a3", "a4", "a5"]  # a0 not again


async def test_feed_polls_once_for_all_clients_for_another_process_alerts(tmp_path):
    db = str(tmp_path / "moorage.sqlite3")
    async with sqlite_alerts(db) as here, sqlite_alerts(db) as there:
        feed = AlertFeed(here, queue_size=100, poll=0.05)
        got: list[list[tuple[str, str]]] = [[], [], []]
        tasks = [asyncio.create_task(collect(feed.stream(0), g)) for g in got]
        await until(lambda: len(feed.listeners) == 3)
        now = time.time()
        assert await there.raise_alert(raise_(instant=True, throttle=0, id="x", now=now))
        await until(lambda: all(len(g) == 1 for g in got))
        polls = feed.polls
        await until(lambda: feed.polls >= polls + 3)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await feed.stop()
    assert all(g == [(repr(now), "x")] for g in got)  # once each, not once per poll
    assert not feed.listeners
