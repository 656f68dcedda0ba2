"""The logs hub's buffer and start point, without an engine: which histories the
buffer can serve, and exactly which lines it gives."""

from __future__ import annotations

import time

from app.services.live import LogBuffer, LogChunk, LogQuery, LogStart
from app.services.logs import LineBatch


def chunk(*lines: tuple[int, str, str]) -> LogChunk:
    """A chunk of (ns, stream, text) lines, stamped `ns` (seq 0)."""
    b = LineBatch()
    for ns, stream, text in lines:
        b.ns.append(ns)
        b.seq.append(0)
        b.stream.append(stream)
        b.ts.append(b"2025-01-01T00:00:00.%09dZ" % ns)
        b.raw.append(text.encode())
    return LogChunk.of(b)


def texts(
    held: list[tuple[LogChunk, int]] | None,
    floor: tuple[int, int] | None = None,
    since_ns: int | None = None,
) -> list[str]:
    """The lines of a history, selected as a subscriber does."""
    assert held is not None
    out: list[bytes] = []
    for c, first in held:
        c.select(out, floor, {"stdout", "stderr"}, since_ns, first)
    return [
        rec.split(b'"line":"')[1].split(b'"')[0].decode()
        for rec in b"".join(out).split(b"\n\n")[:-1]
    ]


def filled(limit: int = 1 << 20, covered_after: tuple[int, int] | None = None) -> LogBuffer:
    buf = LogBuffer(limit, covered_after)
    for i in range(10):  # 10 chunks of 3 lines: ns 10*i + 1..3
        buf.add(chunk(*((10 * i + j, "stdout", f"l{10 * i + j}") for j in (1, 2, 3))))
    return buf


def test_a_complete_buffer_serves_every_history() -> None:
    buf = filled()
    assert buf.number == 10
    assert buf.lines == 30
    assert len(texts(buf.history(None, "all", None))) == 30
    assert texts(buf.history(None, "4", None)) == ["l83", "l91", "l92", "l93"]
    assert texts(buf.history(None, "100", None))[0] == "l1"  # fewer lines than asked: all
    assert texts(buf.history((52, 0), "all", None), (52, 0))[:2] == ["l53", "l61"]  # resume
    assert texts(buf.history(None, "all", 82), None, 82)[:2] == ["l82", "l83"]  # since
    assert texts(buf.history(None, "2", 92), None, 92) == ["l92", "l93"]  # tail, then since
    assert texts(buf.history(None, "3", 92), None, 92) == ["l92", "l93"]


def test_an_evicted_buffer_serves_only_what_it_still_holds() -> None:
    buf = filled(limit=LogBuffer.cost(chunk((1, "stdout", "l1"))) * 3 * 4)
    assert buf.covered_after is not None
    assert buf.lines < 30
    assert buf.history(None, "all", None) is None  # the first lines are gone
    assert buf.history((2, 0), "all", None) is None  # resume before what it holds
    assert buf.history(None, "all", 5) is None
    assert buf.history(None, str(buf.lines + 1), None) is None
    assert texts(buf.history(None, "2", None)) == ["l92", "l93"]
    after = buf.covered_after
    assert texts(buf.history(after, "all", None), after)[0] == f"l{after[0] + 8}"


def test_a_tail_buffer_serves_tails_only_until_it_evicts() -> None:
    buf = LogBuffer(1 << 20, (1 << 62, 1 << 62), tail_only=True)
    buf.add(chunk((5, "stdout", "a"), (6, "stderr", "b")))
    assert buf.history(None, "all", None) is None
    assert buf.history((5, 0), "all", None) is None
    assert buf.history(None, "3", None) is None  # holds 2 lines of a longer log
    assert texts(buf.history(None, "2", None)) == ["a", "b"]


def test_a_buffer_of_a_later_start_serves_resumes_after_it() -> None:
    buf = filled(covered_after=(0, 1 << 62))
    assert buf.history(None, "all", None) is None
    assert buf.history((0, 5), "all", None) is None  # lines (0, 6…) may be missing
    assert texts(buf.history((1, 0), "all", None), (1, 0))[0] == "l2"


def test_select_cuts_records_by_stream_and_floor() -> None:
    c = chunk((1, "stdout", "a"), (2, "stderr", "b"), (3, "stdout", "c"))
    out: list[bytes] = []
    c.select(out, (1, 0), {"stdout"}, None)
    assert b"".join(out).count(b"event: log") == 1
    assert b'"line":"c"' in out[0]
    out = []
    c.select(out, (3, 0), {"stdout", "stderr"}, None)
    assert out == []
    out = []
    c.select(out, None, {"stdout", "stderr"}, None)
    assert out == [c.data]  # the whole chunk, not a copy


def test_start_points() -> None:
    now = time.time_ns()
    old, young = now - 3_600_000_000_000, now
    tail = LogStart.of(None, LogQuery(tail="100"), None, old, 2.0)
    assert tail.tail_only
    assert tail.params == {"tail": "100"}
    big = LogStart.of(None, LogQuery(tail="20000"), None, old, 2.0)
    assert not big.tail_only
    assert "since" in big.params
    assert big.covered_after is not None
    assert LogStart.of(None, LogQuery(), None, young, 2.0).params == {}  # the whole log
    resumed = LogStart.of((now, 3), LogQuery(tail="10"), None, old, 2.0)
    assert not resumed.tail_only  # a resume is not a tail


def test_after_finds_a_line_by_its_place_whatever_the_stamps_order() -> None:
    buf = LogBuffer(1 << 20, None)
    buf.add(chunk((10, "stdout", "a"), (30, "stdout", "b")))
    buf.add(chunk((20, "stderr", "c"), (40, "stdout", "d")))  # c: stamped before b
    assert texts(buf.after((30, 0))) == ["c", "d"]  # by id, c would be lost
    assert texts(buf.after((40, 0))) == []
    assert buf.after((35, 0)) is None  # not a line it holds


def test_the_newest_chunk_stays_even_over_the_limit() -> None:
    buf = LogBuffer(10, None)
    buf.add(chunk((1, "stdout", "a")))
    buf.add(chunk((2, "stdout", "b"), (3, "stdout", "c")))
    assert buf.lines == 2
    assert buf.covered_after == (1, 1 << 62)  # every line of stamp 1 is gone
    assert texts(buf.history(None, "2", None)) == ["b", "c"]


def test_a_large_chunk_leaves_its_newest_lines_when_evicted() -> None:
    # A burst read in one piece, then one line: a tail of 10 is still the buffer's.
    big = chunk(*((i, "stdout", f"n{i}") for i in range(1, 201)))
    buf = LogBuffer(LogBuffer.cost(big) // 2, None)
    buf.add(big)
    buf.add(chunk((300, "stderr", "last")))
    assert 10 < buf.lines < 201
    assert buf.covered_after is not None
    assert buf.covered_after[0] < 200
    assert buf.size <= buf.limit
    assert texts(buf.history(None, "10", None)) == [f"n{i}" for i in range(192, 201)] + ["last"]
    assert buf.history(None, "all", None) is None  # the first lines are gone
    assert buf.history((5, 0), "all", None) is None
    resumed = buf.history((195, 0), "all", None)
    assert texts(resumed, (195, 0)) == ["n196", "n197", "n198", "n199", "n200", "last"]
    assert texts(buf.after((199, 0))) == ["n200", "last"]
    assert [c.number for c in buf.chunks] == [1, 2]  # the seam with live chunks holds
