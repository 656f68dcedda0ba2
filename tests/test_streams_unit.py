"""app/streams.py and the pure parts of the stream services, without HTTP or engine."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from app import errors
from app.services.events import (
    EventBus,
    EventFilter,
    OversizedLine,
    event_lines,
    event_view,
)
from app.services.logs import iter_log_lines, parse_line_id, ts_ns
from app.streams import Hub, HubRegistry, Item, SlowConsumer, Subscriber, encode, framed


def test_encode_event() -> None:
    assert encode("log", {"a": 1}, id="5-0") == b'id: 5-0\nevent: log\ndata: {"a":1}\n\n'
    assert encode("end", {"reason": "x"}) == b'event: end\ndata: {"reason":"x"}\n\n'


def test_ts_ns_and_ids() -> None:
    assert ts_ns(b"1970-01-01T00:00:01.000000002Z") == 1_000_000_002
    assert ts_ns(b"2024-01-01T00:00:00.5Z") == 1704067200_500_000_000
    assert ts_ns(b"2024-01-01T00:00:00Z") == 1704067200_000_000_000
    assert parse_line_id("123-4") == (123, 4)
    assert parse_line_id("123")[0] == 123
    with pytest.raises(errors.ValidationFailed):
        parse_line_id("abc")


async def test_iter_log_lines_frames() -> None:
    def frame(kind: int, text: bytes) -> bytes:
        return bytes([kind, 0, 0, 0]) + len(text).to_bytes(4, "big") + text

    body = (
        frame(1, b"2024-01-01T00:00:00.000000001Z out1\n")
        + frame(1, b"2024-01-01T00:00:00.000000001Z out2\n")
        + frame(2, b"2024-01-01T00:00:00.000000002Z err1\n")
    )

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 7):  # any chunking
            yield body[i : i + 7]

    lines = [x async for x in iter_log_lines(chunks(), tty=False)]
    assert [(x.id, x.stream, x.line) for x in lines] == [
        ((1704067200_000_000_001, 0), "stdout", "out1"),
        ((1704067200_000_000_001, 1), "stdout", "out2"),
        ((1704067200_000_000_002, 0), "stderr", "err1"),
    ]


async def test_subscriber_cut_off_when_full() -> None:
    sub = Subscriber(maxsize=3)
    for i in range(3):
        sub.put(Item(i, b"x"))
    assert not sub.cut_off
    sub.put(Item(3, b"x"))
    assert sub.cut_off
    assert not sub.queue  # backlog dropped: memory bounded
    sub.put(Item(4, b"x"))
    assert not sub.queue
    with pytest.raises(SlowConsumer):
        async for _ in sub.batches():
            pass


async def test_subscriber_batches_until_last() -> None:
    sub = Subscriber(maxsize=10)
    for i in range(3):
        sub.put(Item(i, b"%d" % i))
    sub.put(Item(None, b"end", last=True))
    sub.put(Item(9, b"after"))  # never seen: the stream ended
    got = [it.data async for batch in sub.batches() for it in batch]
    assert got == [b"0", b"1", b"2", b"end"]


async def test_hub_shared_opened_once_closed_after_last() -> None:
    registry = HubRegistry()
    opened = 0
    closed = asyncio.Event()
    release = asyncio.Event()

    async def producer(hub: Hub) -> None:
        nonlocal opened
        opened += 1
        hub.ready.set()
        try:
            await release.wait()
            for i in range(5):
                hub.publish(Item(i, b"%d" % i))
            hub.publish(Item(None, b"end", last=True))
            await asyncio.sleep(3600)
        finally:
            closed.set()

    subs = [Subscriber(maxsize=100) for _ in range(5)]

    async def consume(sub: Subscriber) -> list[bytes]:
        async with registry.subscribe("logs", "c1", producer, sub) as hub:
            await hub.ready.wait()
            if sub is subs[-1]:
                release.set()
            return [it.data async for batch in sub.batches() for it in batch]

    tasks = []
    for sub in subs:
        tasks.append(asyncio.create_task(consume(sub)))
        await asyncio.sleep(0)
    results = await asyncio.gather(*tasks)
    assert opened == 1
    assert all(r == [b"0", b"1", b"2", b"3", b"4", b"end"] for r in results)
    await asyncio.wait_for(closed.wait(), 5)  # the upstream is released
    assert registry.count() == 0
    await registry.close()


async def test_slow_subscriber_does_not_slow_others() -> None:
    registry = HubRegistry()

    async def producer(hub: Hub) -> None:
        hub.ready.set()
        for i in range(100):
            hub.publish(Item(i, b"x"))
            await asyncio.sleep(0)
        hub.publish(Item(None, b"end", last=True))
        await asyncio.sleep(3600)

    fast, slow = Subscriber(maxsize=10), Subscriber(maxsize=10)
    async with registry.subscribe("k", "c", producer, slow):
        async with registry.subscribe("k", "c", producer, fast):
            got = [it async for batch in fast.batches() for it in batch]
        assert len(got) == 101
        assert slow.cut_off
    await registry.close()


async def test_framed_retry_error_and_lifetime() -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"e"
            await asyncio.sleep(0.01)

    now = [0.0]
    chunks = []
    async for chunk in framed(endless(), retry_ms=1234, max_lifetime=1.0, clock=lambda: now[0]):
        chunks.append(chunk)
        now[0] += 0.3
    assert chunks[0] == b"retry: 1234\n\n"
    assert chunks[-1] == b'event: end\ndata: {"reason":"max-lifetime"}\n\n'
    assert chunks[1:-1] == [b"e"] * 3

    async def failing() -> AsyncIterator[bytes]:
        yield b"e"
        raise errors.ContainerNotFound("gone")

    out = [c async for c in framed(failing(), retry_ms=1, max_lifetime=60)]
    assert out[-1].startswith(b"event: error\ndata: ")
    assert b'"code":"container-not-found"' in out[-1]


def _ev(tn: int, typ: str = "volume", action: str = "create", **attrs: str) -> dict:  # type: ignore[type-arg]
    return {
        "Type": typ,
        "Action": action,
        "Actor": {"ID": f"x{tn}", "Attributes": attrs},
        "timeNano": tn,
    }


def test_event_filter() -> None:
    health = _ev(1, "container", "health_status: healthy", name="web", app="a")
    assert EventFilter(actions=frozenset({"health_status"}))(health)
    assert EventFilter(actions=frozenset({"health_status: healthy"}))(health)
    assert not EventFilter(actions=frozenset({"start"}))(health)
    assert EventFilter(labels=("app=a",))(health)
    assert not EventFilter(labels=("app=b",))(health)
    assert EventFilter(containers=frozenset({"web"}), types=frozenset({"container"}))(health)
    assert not EventFilter(types=frozenset({"volume"}))(health)
    view = event_view(health)
    assert view["time_nano"] == 1
    assert view["name"] == "web"
    assert view["time"] == "1970-01-01T00:00:00.000000001Z"


def test_journal_replay_bounds() -> None:
    bus = EventBus(engine=None, journal_size=256)  # type: ignore[arg-type]
    assert bus.replay(0) is None  # never connected: nothing to vouch for
    bus.journal_from = 100
    for tn in range(101, 101 + 300):
        if len(bus.journal) == bus.journal.maxlen:
            bus.journal_from = int(bus.journal[0]["timeNano"])
        bus.journal.append(_ev(tn))
    oldest = int(bus.journal[0]["timeNano"])
    assert bus.replay(oldest - 2) is None  # dropped from the journal
    replay = bus.replay(oldest - 1)
    assert replay is not None
    assert len(replay) == 256
    tail = bus.replay(390)
    assert tail is not None
    assert [e["timeNano"] for e in tail] == list(range(391, 401))


def test_subscriber_bound_counts_events_not_pieces() -> None:
    from app.streams import Item, Subscriber

    sub = Subscriber(maxsize=10)
    sub.put(Item(1, b"x", events=25))  # an empty queue takes any piece
    assert not sub.cut_off
    assert sub.pending == 25
    sub.put(Item(2, b"y", events=1))  # 26 events behind: over the bound
    assert sub.cut_off
    assert not sub.queue


# -- engine event lines over the limit (app/services/events.py) -------------------------


async def _lines(chunks: list[bytes], limit: int) -> list[bytes | OversizedLine]:
    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return [line async for line in event_lines(source(), limit)]


def _engine_line(labels: dict[str, str], tn: int = 1_700_000_000_123_456_789) -> bytes:
    # The engine's own field order (encoding/json of events.Message).
    doc = {
        "status": "create",
        "id": "c" * 64,
        "from": "busybox",
        "Type": "container",
        "Action": "create",
        "Actor": {"ID": "c" * 64, "Attributes": {"image": "busybox", **labels, "name": "web"}},
        "scope": "local",
        "time": tn // 1_000_000_000,
        "timeNano": tn,
    }
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


async def test_event_lines_split_anywhere() -> None:
    a, b = _engine_line({"x": "1"}), _engine_line({"y": "2"})
    data = a + b"\n" + b
    for cut in range(1, len(data)):
        got = await _lines([data[:cut], data[cut:]], 4096)
        assert got == [a[:-1], b[:-1]]


async def test_an_oversized_event_costs_its_attributes_only() -> None:
    # A label's value that imitates the fields the stub is read from: escaped, ignored.
    fake = '","Type":"network","ID":"evil"},"scope":"swarm","time":1,"timeNano":2}\n'
    big = _engine_line({"big": "z" * 300_000, "fake": fake})
    small = _engine_line({"k": "v"}, tn=1_700_000_001_000_000_000)
    pieces = [big[i : i + 1000] for i in range(0, len(big), 1000)] + [small]
    got = await _lines(pieces, 64 << 10)
    assert isinstance(got[0], OversizedLine)
    assert got[0].size == len(big) - 1
    assert len(got[0].head) + len(got[0].tail) <= 8 << 10  # never held whole
    assert got[1] == small[:-1]
    stub = got[0].stub()
    assert stub == {
        "status": "create",
        "id": "c" * 64,
        "from": "busybox",
        "Type": "container",
        "Action": "create",
        "Actor": {"ID": "c" * 64, "Attributes": {}},
        "scope": "local",
        "time": 1_700_000_000,
        "timeNano": 1_700_000_000_123_456_789,
        "moorage_truncated": len(big) - 1,
    }
    assert event_view(stub)["truncated"] is True


async def test_an_oversized_line_that_is_not_an_event_is_dropped() -> None:
    got = await _lines([b"x" * 10_000 + b"\n", b'{"a":1}\n'], 4096)
    assert isinstance(got[0], OversizedLine)
    assert got[0].stub() is None
    assert got[1] == b'{"a":1}'


# -- the health journal (app/services/health_journal.py) --------------------------------


def test_health_journal_ids_ordered_and_bounded() -> None:
    from app.services.health_journal import HealthJournal, format_id, parse_id

    journal = HealthJournal(engine=None, bus=None, size=16)  # type: ignore[arg-type]
    journal.covered_after = (100, 0)
    for tn in (200, 200, 150, 300):  # a shared nanosecond, a clock stepping back
        journal._append(tn, "c", {}, {"status": "healthy"})
    assert [e.id for e in journal.entries] == [(200, 1), (200, 2), (200, 3), (300, 1)]
    assert [e.id for e in journal.after((200, 1))] == [(200, 2), (200, 3), (300, 1)]
    assert journal.covers((100, 0))
    assert not journal.covers((99, 5))
    for tn in range(400, 420):
        journal._append(tn, "c", {}, {"status": "healthy"})
    assert len(journal.entries) == 16
    assert journal.covered_after == (403, 1)  # the newest entry dropped
    assert journal.entries[0].id == (404, 1)
    assert not journal.covers((300, 1))
    assert parse_id(format_id((123, 4))) == (123, 4)
    assert parse_id("123") == (123, 0)
    for bad in ("abc", "1-x", "-1", "1-2-3"):
        with pytest.raises(errors.ValidationFailed):
            parse_id(bad)
