"""The engine's log framing.

Without a TTY the engine multiplexes stdout and stderr: each frame is an 8-byte
header (stream type: 1 stdout, 2 stderr; 3 bytes padding; big-endian uint32 length)
then the payload. With a TTY the body is raw text. aiodocker's `log()` drops the
stream type, so moorage parses frames itself.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

STREAMS = {0: "stdin", 1: "stdout", 2: "stderr"}
_HEADER = struct.Struct(">BxxxL")


@dataclass(slots=True)
class FrameParser:
    """Feed it bytes in any chunking; it yields `(stream, payload)` whole frames."""

    tty: bool = False
    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, chunk: bytes) -> Iterator[tuple[str, bytes]]:
        if self.tty:
            if chunk:
                yield "stdout", chunk
            return
        buf = self._buf
        buf.extend(chunk)
        pos = 0
        end = len(buf)
        while end - pos >= 8:
            kind, size = _HEADER.unpack_from(buf, pos)
            if end - pos - 8 < size:
                break
            yield STREAMS.get(kind, "stdout"), bytes(buf[pos + 8 : pos + 8 + size])
            pos += 8 + size
        del buf[:pos]


@dataclass(slots=True)
class LineSplitter:
    """Reassemble per-stream lines across frames (a frame need not end a line)."""

    max_line: int = 1 << 20
    _partial: dict[str, bytearray] = field(default_factory=dict)

    def feed(self, stream: str, payload: bytes) -> Iterator[tuple[str, bytes]]:
        buf = self._partial.setdefault(stream, bytearray())
        buf.extend(payload)
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            yield stream, bytes(buf[start:nl])
            start = nl + 1
        del buf[:start]
        # An endless line is cut, not buffered without bound.
        while len(buf) > self.max_line:
            yield stream, bytes(buf[: self.max_line])
            del buf[: self.max_line]

    def flush(self) -> Iterator[tuple[str, bytes]]:
        for stream, buf in self._partial.items():
            if buf:
                yield stream, bytes(buf)
                buf.clear()


async def iter_lines(
    chunks: AsyncIterator[bytes], *, tty: bool, max_line: int = 1 << 20
) -> AsyncIterator[tuple[str, bytes]]:
    """`(stream, line-without-newline)` from a raw logs / attach body."""
    frames = FrameParser(tty=tty)
    lines = LineSplitter(max_line=max_line)
    async for chunk in chunks:
        for stream, payload in frames.feed(chunk):
            for item in lines.feed(stream, payload):
                yield item
    for item in lines.flush():
        yield item


def split_timestamp(line: bytes) -> tuple[str | None, bytes]:
    """Split the engine's `timestamps=1` prefix (`2024-01-01T00:00:00.123456789Z `)."""
    space = line.find(b" ")
    if 20 <= space <= 40 and line[:4].isdigit() and line[space - 1 : space] == b"Z":
        return line[:space].decode("ascii", "replace"), line[space + 1 :]
    return None, line


# ---------------------------------------------------------------------------
# Following a container's logs as Server-Sent Events (GET …/logs/stream).
#
# One engine `follow` connection per container (a hub), shared by every subscriber.
# Each subscriber first joins the hub (its live lines queue up), then reads its own
# history (tail / since / resume point) with a short non-following read, then
# drains the live queue, skipping what the history already gave: lines are ordered
# by their id `<ts_ns>-<seq>`, so the seam neither repeats nor loses a line.

LineId = tuple[int, int]
_EPOCH_CACHE: dict[bytes, int] = {}


def ts_ns(ts: bytes) -> int:
    """`2024-01-01T00:00:00.123456789Z` → ns since the epoch (seconds cached)."""
    head = ts[:19]
    secs = _EPOCH_CACHE.get(head)
    if secs is None:
        import calendar
        from datetime import datetime

        secs = calendar.timegm(datetime.strptime(head.decode(), "%Y-%m-%dT%H:%M:%S").timetuple())
        if len(_EPOCH_CACHE) > 4096:
            _EPOCH_CACHE.clear()
        _EPOCH_CACHE[head] = secs
    frac = ts[20:-1] if len(ts) > 20 and ts[19:20] == b"." else b""
    return secs * 1_000_000_000 + (int(frac.ljust(9, b"0")[:9]) if frac else 0)


def parse_line_id(value: str) -> LineId:
    """`<ts_ns>-<seq>` (a bare `<ts_ns>` means after every line of that stamp)."""
    head, _, seq = value.partition("-")
    try:
        return int(head), (int(seq) if seq else 1 << 62)
    except ValueError:
        from app import errors

        raise errors.ValidationFailed.field(
            ["query", "last_event_id"], f"{value[:80]!r} is not a log event id"
        ) from None


def ns_to_engine(ns: int) -> str:
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


@dataclass(slots=True)
class LineIds:
    """Ids in arrival order: the stamp, plus a sequence among equal stamps."""

    last_ns: int = -1
    seq: int = 0

    def next(self, ns: int) -> LineId:
        if ns == self.last_ns:
            self.seq += 1
        else:
            self.last_ns, self.seq = ns, 0
        return ns, self.seq


@dataclass(slots=True)
class LogLine:
    id: LineId
    stream: str
    ts: str
    line: str


def _epoch_seconds(head: bytes) -> int:
    secs = _EPOCH_CACHE.get(head)
    if secs is None:
        secs = ts_ns(head + b"Z") // 1_000_000_000
    return secs


class _LineReader:
    """Frames → timestamped lines with ids, in one tight loop (the hot path of a
    burst: about 2-3x faster than FrameParser + LineSplitter + split_timestamp)."""

    __slots__ = ("buf", "ids", "lines", "partial", "tty")

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.buf = bytearray()
        self.ids = LineIds()
        self.lines = LineSplitter()
        self.partial: set[str] = set()

    def line(self, out: list[LogLine], stream: str, raw: bytes) -> None:
        sp = raw.find(b" ", 0, 41)
        if sp < 20 or raw[sp - 1] != 90:  # "Z"
            return
        secs = _EPOCH_CACHE.get(raw[:19])
        if secs is None:
            secs = _epoch_seconds(raw[:19])
        frac = raw[20 : sp - 1] if raw[19] == 46 else b""  # "."
        ns = secs * 1_000_000_000 + (int(frac.ljust(9, b"0")[:9]) if frac else 0)
        out.append(
            LogLine(
                self.ids.next(ns),
                stream,
                raw[:sp].decode("ascii", "replace"),
                raw[sp + 1 :].decode("utf-8", "replace"),
            )
        )

    def feed(self, chunk: bytes) -> list[LogLine]:
        out: list[LogLine] = []
        if self.tty:
            for stream, raw in self.lines.feed("stdout", chunk):
                self.line(out, stream, raw)
            return out
        self.buf += chunk
        data = bytes(self.buf)
        pos, end = 0, len(data)
        unpack = _HEADER.unpack_from
        while end - pos >= 8:
            kind, size = unpack(data, pos)
            start = pos + 8
            stop = start + size
            if stop > end:
                break
            pos = stop
            stream = "stderr" if kind == 2 else "stdout"
            # The common case: one whole line per frame.
            if (
                size
                and stream not in self.partial
                and data[stop - 1] == 10
                and data.find(b"\n", start, stop - 1) < 0
            ):
                self.line(out, stream, data[start : stop - 1])
                continue
            for s, raw in self.lines.feed(stream, data[start:stop]):
                self.line(out, s, raw)
            if self.lines._partial.get(stream):
                self.partial.add(stream)
            else:
                self.partial.discard(stream)
        del self.buf[:pos]
        return out

    def flush(self) -> list[LogLine]:
        out: list[LogLine] = []
        for s, raw in self.lines.flush():
            self.line(out, s, raw)
        return out


async def iter_log_lines(
    chunks: AsyncIterator[bytes], *, tty: bool
) -> AsyncIterator[list[LogLine]]:
    """Batches of timestamped lines (each with its id) from a `timestamps=1` body,
    one batch per chunk the engine sent."""
    reader = _LineReader(tty)
    async for chunk in chunks:
        batch = reader.feed(chunk)
        if batch:
            yield batch
    tail = reader.flush()
    if tail:
        yield tail
