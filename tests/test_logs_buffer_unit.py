"""The logs hub's buffer (pure): what it holds, when it covers a start point."""

from __future__ import annotations

from app.services.live import LogBuffer, LogChunk
from app.services.logs import LineBatch


def chunk(first: int, n: int, stream: str = "stdout") -> LogChunk:
    b = LineBatch()
    for i in range(first, first + n):
        b.ns.append(i * 1000)
        b.seq.append(0)
        b.stream.append(stream)
        b.ts.append(b"2024-01-01T00:00:00.000000000Z")
        b.raw.append(b"line%d" % i)
    return LogChunk.of(b)


def texts(held: list[tuple[LogChunk, int]] | None, **kw: object) -> list[bytes]:
    assert held is not None
    out: list[bytes] = []
    for c, start in held:
        c.select(out, kw.get("floor"), {"stdout", "stderr"}, kw.get("since"), start)  # type: ignore[arg-type]
    return [r.split(b'"line":"')[1].split(b'"')[0] for r in b"".join(out).split(b"\n\n") if r]


def test_whole_history_while_nothing_was_dropped() -> None:
    buf = LogBuffer(1 << 20, None)
    buf.add(chunk(1, 5))
    buf.add(chunk(6, 5))
    assert buf.number == 2
    assert texts(buf.catch_up(None, "all", None)) == [b"line%d" % i for i in range(1, 11)]
    assert texts(buf.catch_up(None, "3", None)) == [b"line8", b"line9", b"line10"]
    assert texts(buf.catch_up(None, "7", None)) == [b"line%d" % i for i in range(4, 11)]
    assert texts(buf.catch_up(None, "0", None)) == []
    assert texts(buf.catch_up(None, "50", None)) == [b"line%d" % i for i in range(1, 11)]
    assert texts(buf.catch_up((4000, 0), "all", None), floor=(4000, 0)) == [
        b"line%d" % i for i in range(5, 11)
    ]
    assert texts(buf.catch_up(None, "all", 7000), since=7000) == [
        b"line%d" % i for i in range(7, 11)
    ]


def test_dropping_old_lines_narrows_what_it_covers() -> None:
    two, three = chunk(6, 5), chunk(11, 5)
    buf = LogBuffer(LogBuffer.cost(two) + LogBuffer.cost(three), None)
    buf.add(chunk(1, 5))
    buf.add(two)
    buf.add(three)  # the first chunk goes
    assert buf.lines == 10
    assert buf.covered_after == (5000, 0)
    assert buf.catch_up(None, "all", None) is None  # the first lines are gone
    assert buf.catch_up((4000, 0), "all", None) is None  # resume before the cut
    assert buf.catch_up(None, "all", 5000) is None  # since the cut's stamp
    assert buf.catch_up(None, "11", None) is None  # more lines than it holds
    assert texts(buf.catch_up(None, "10", None)) == [b"line%d" % i for i in range(6, 16)]
    assert texts(buf.catch_up((5000, 0), "all", None), floor=(5000, 0)) == [
        b"line%d" % i for i in range(6, 16)
    ]
    assert texts(buf.catch_up(None, "all", 6000), since=6000) == [
        b"line%d" % i for i in range(6, 16)
    ]
    assert buf.catch_up(None, "-1", None) is None  # the engine says what that means
    assert buf.catch_up(None, "x", None) is None


def test_a_chunk_cut_in_its_middle_keeps_its_records() -> None:
    c = chunk(1, 4)
    assert b"".join(c.records()) == c.data
    out: list[bytes] = []
    c.select(out, (2000, 0), {"stdout"}, None)
    assert b"".join(out) == b"".join(c.records()[2:])
    out = []
    c.select(out, None, {"stderr"}, None)  # another stream: nothing
    assert out == []
    out = []
    c.select(out, (9000, 0), {"stdout", "stderr"}, None)  # all before the floor
    assert out == []
