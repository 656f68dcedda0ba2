"""The engine's log and attach bodies.

Without a TTY the engine multiplexes stdout and stderr: each frame is an 8-byte
header (stream type: 1 stdout, 2 stderr; 3 bytes padding; big-endian uint32 length)
then the payload. With a TTY the body is raw text. aiodocker's `log()` drops the
stream type, so moorage parses frames itself.

    FrameParser      frames of any body (exec and run output)
    LogLines         THE logs parser: a `timestamps=1` body → `LineBatch`es of lines
                     with ids `(ts_ns, seq)`, long lines whole (history and live)
    sse_events, ndjson_records, text_records
                     a batch encoded for the live stream and the history route
    iter_log_text    the plain-text history (`docker logs`)
"""

from __future__ import annotations

import asyncio
import codecs
import operator
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import cast

import aiohttp
import orjson

from app import errors

STREAMS = {0: "stdin", 1: "stdout", 2: "stderr"}
_HEADER = struct.Struct(">BxxxL")
_STDOUT, _STDERR = "stdout", "stderr"
_utf8_decoder = codecs.getincrementaldecoder("utf-8")


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


# ---------------------------------------------------------------------------
# Line ids: `<ts_ns>-<seq>`, the engine's stamp in ns and a sequence among equal
# stamps. The live stream (app/services/live.py) orders and resumes by them.

LineId = tuple[int, int]
_EPOCH_CACHE: dict[bytes, int] = {}
_GIGA = 1_000_000_000


def _secs(head: bytes) -> int:
    """`2024-01-01T00:00:00` → seconds since the epoch (cached; ValueError if not a date)."""
    secs = _EPOCH_CACHE.get(head)
    if secs is None:
        import calendar
        from datetime import datetime

        secs = calendar.timegm(datetime.strptime(head.decode(), "%Y-%m-%dT%H:%M:%S").timetuple())
        if len(_EPOCH_CACHE) > 4096:
            _EPOCH_CACHE.clear()
        _EPOCH_CACHE[head] = secs
    return secs


def ts_ns(ts: bytes) -> int:
    """`2024-01-01T00:00:00.123456789Z` → ns since the epoch (seconds cached)."""
    secs = _secs(ts[:19])
    frac = ts[20:-1] if len(ts) > 20 and ts[19:20] == b"." else b""
    return secs * _GIGA + (int(frac.ljust(9, b"0")[:9]) if frac else 0)


# The engine's own stamps (`timestamps=1`) have a fixed width: RFC 3339 in UTC with
# nine digits, 30 characters. Cut from a frame's payload by position (C loops over
# a list of lines), and checked all at once.
_HEAD = operator.itemgetter(slice(0, 19))
_FRAC = operator.itemgetter(slice(20, 29))
_STAMP_DIGITS = 23  # 30 characters, 7 of them `--T::.Z`


def _fixed_stamps(ts: list[bytes]) -> tuple[bytes, bytes] | None:
    """If every item is a fixed-width stamp of a real date
    (`dddd-dd-ddTdd:dd:dd.dddddddddZ`): the oldest and the newest; else None."""
    n = len(ts)
    joined = b"".join(ts)
    if len(joined) != 30 * n:
        return None
    dashes, colons = b"-" * n, b":" * n
    if not (
        joined[29::30] == b"Z" * n
        and joined[19::30] == b"." * n
        and joined[4::30] == dashes
        and joined[7::30] == dashes
        and joined[10::30] == b"T" * n
        and joined[13::30] == colons
        and joined[16::30] == colons
    ):
        return None
    digits = joined.translate(None, b"-T:.Z")
    if len(digits) != _STAMP_DIGITS * n or not digits.isdigit():
        return None
    lo, hi = min(ts), max(ts)  # fixed width: text order is time order
    try:
        for head in (lo[:19],) if lo[:19] == hi[:19] else set(map(_HEAD, ts)):
            _secs(head)
    except ValueError:
        return None
    return lo, hi


def _stamp_ns(ts: bytes) -> int:
    """A fixed-width stamp in ns."""
    return _secs(ts[:19]) * _GIGA + int(ts[20:29])


def _stamps_ns(ts: list[bytes]) -> list[int]:
    """Fixed-width stamps in ns (one C loop per step)."""
    cached = list(map(_EPOCH_CACHE.get, map(_HEAD, ts)))
    secs = cast(list[int], cached) if None not in cached else list(map(_secs, map(_HEAD, ts)))
    return list(map(operator.add, map(_GIGA.__mul__, secs), map(int, map(_FRAC, ts))))


def parse_line_id(value: str) -> LineId:
    """`<ts_ns>-<seq>` (a bare `<ts_ns>` means after every line of that stamp)."""
    head, _, seq = value.partition("-")
    try:
        return int(head), (int(seq) if seq else 1 << 62)
    except ValueError:
        raise errors.ValidationFailed.field(
            ["query", "last_event_id"], f"{value[:80]!r} is not a log event id"
        ) from None


def ns_to_engine(ns: int) -> str:
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


@dataclass(slots=True, frozen=True)
class LogLine:
    """One log line: its id `(ts_ns, seq)`, stream, the engine's timestamp, the text."""

    id: LineId
    stream: str
    ts: str | None
    line: str


# What orjson escapes in a string: control characters, `"` and `\`. A line without
# them, in valid UTF-8, is its own JSON text.
_JSON_ESCAPED = bytes(range(0x20)).replace(b"\n", b"") + b'"\\'


class LineBatch:
    """Lines parsed from one piece of a logs body, held by column (no object per line).

    `ns`/`seq` make each line's id, `ts` is the engine's stamp as it was sent
    (ASCII, or None when a frame had none), `raw` the line's bytes without the
    newline or the stamp. The parser's fast path leaves `ns` to be computed from
    `ts` when first read (the live stream seldom needs it: `min_ns`, `max_ns`).
    """

    __slots__ = ("_fixed", "_lazy", "_ns", "_span", "raw", "seq", "stream", "ts")

    def __init__(
        self,
        ns: list[int] | None = None,
        seq: list[int] | None = None,
        stream: list[str] | None = None,
        ts: list[bytes | None] | None = None,
        raw: list[bytes] | None = None,
    ) -> None:
        self._ns: list[int] = ns if ns is not None else []
        self.seq: list[int] = seq if seq is not None else []
        self.stream: list[str] = stream if stream is not None else []
        self.ts: list[bytes | None] = ts if ts is not None else []
        self.raw: list[bytes] = raw if raw is not None else []
        self._lazy: list[tuple[int, int]] = []  # ranges of `_ns` still to compute from `ts`
        # The oldest and newest `ts`, when every one is a checked fixed-width stamp:
        # set by the parser's fast path, and `_fixed` turned off by any other line.
        self._span: tuple[bytes, bytes] | None = None
        self._fixed = True

    def __len__(self) -> int:
        return len(self.raw)

    def __repr__(self) -> str:
        return f"LineBatch({len(self.raw)} lines)"

    @property
    def ns(self) -> list[int]:
        if self._lazy:
            ts = cast(list[bytes], self.ts)
            for start, stop in self._lazy:
                self._ns[start:stop] = _stamps_ns(ts[start:stop])
            self._lazy.clear()
        return self._ns

    def min_ns(self) -> int:
        """The oldest line's stamp in ns (without computing every line's)."""
        if self._fixed and self._span is not None:
            return _stamp_ns(self._span[0])
        return min(self.ns)

    def max_ns(self) -> int:
        """The newest line's stamp in ns."""
        if self._fixed and self._span is not None:
            return _stamp_ns(self._span[1])
        return max(self.ns)

    def texts(self) -> list[str]:
        """The lines as text; invalid UTF-8 becomes U+FFFD (one decode for the batch)."""
        if not self.raw:
            return []
        # A newline is never part of a multi-byte sequence: decoding the joined lines
        # replaces exactly what decoding each line would.
        return b"\n".join(self.raw).decode("utf-8", "replace").split("\n")

    def json_texts(self) -> list[bytes]:
        """Each line as the inside of a JSON string (escaped, without the quotes)."""
        raw = self.raw
        if not raw:
            return []
        joined = b"\n".join(raw)
        if len(joined.translate(None, _JSON_ESCAPED)) == len(joined):
            if joined.isascii():
                return raw  # nothing to escape: the bytes are the JSON text
            try:
                joined.decode()
            except UnicodeDecodeError:
                pass
            else:
                return raw
        # An unescaped `","` only ever separates two items of a JSON list of strings.
        return orjson.dumps(self.texts())[2:-2].split(b'","')

    def ids(self) -> list[LineId]:
        return list(zip(self.ns, self.seq, strict=True))

    def lines(self) -> list[LogLine]:
        return [
            LogLine((ns, seq), stream, ts.decode() if ts is not None else None, text)
            for ns, seq, stream, ts, text in zip(
                self.ns, self.seq, self.stream, self.ts, self.texts(), strict=True
            )
        ]


_STREAM_JSON = {"stdout": b"stdout", "stderr": b"stderr", "stdin": b"stdin"}
_SSE_HEAD = b'id: %d-%d\nevent: log\ndata: {"stream":"%s","ts":"%s","line":"'
_SSE_TAIL = b'"}\n\n'
_SSE_LINE = b'","line":"'
# After `id: <ts_ns>`: the sequence 0, the stream, up to the stamp.
_SSE_MID0 = {s: b'-0\nevent: log\ndata: {"stream":"%s","ts":"' % j for s, j in _STREAM_JSON.items()}
_NDJSON_HEAD = b'{"stream":"%s","ts":"%s","line":"'
_NDJSON_TAIL = b'"}\n'


def _records(heads: list[bytes], texts: list[bytes], tail: bytes) -> bytes:
    """`head + text + tail` for every line, joined (no per-line Python code)."""
    parts = [tail] * (3 * len(texts))
    parts[0::3] = heads
    parts[1::3] = texts
    return b"".join(parts)


def _sse_record(ns: int, seq: int, stream: str, ts: bytes | None, text: bytes) -> bytes:
    stamp = b'"%s"' % ts if ts is not None else b"null"
    return b'id: %d-%d\nevent: log\ndata: {"stream":"%s","ts":%s,"line":"%s"}\n\n' % (
        ns, seq, _STREAM_JSON[stream], stamp, text
    )  # fmt: skip


def _sse_mid(seq: int, stream: str) -> bytes:
    return b'-%d\nevent: log\ndata: {"stream":"%s","ts":"' % (seq, _STREAM_JSON[stream])


def sse_events(batch: LineBatch) -> bytes:
    """The lines as `event: log` SSE records (id `<ts_ns>-<seq>`, data `{stream, ts,
    line}`), joined."""
    n = len(batch.raw)
    if not n:
        return b""
    if batch._fixed and batch._span is not None:
        # Every stamp checked to be the engine's fixed width (the parser's fast path):
        # the id is the stamp's seconds since the epoch followed by its nine digits, so
        # no number is formatted per line.
        ts = cast(list[bytes], batch.ts)
        lo, hi = batch._span[0][:19], batch._span[1][:19]
        parts = [b"", b"", b"", b"", _SSE_LINE, b"", _SSE_TAIL] * n
        if lo == hi:
            parts[0::7] = [b"id: %d" % _secs(lo)] * n
        else:
            heads = list(map(_HEAD, ts))
            ids = {head: b"id: %d" % _secs(head) for head in set(heads)}
            parts[0::7] = map(ids.__getitem__, heads)
        parts[1::7] = map(_FRAC, ts)
        if any(batch.seq):
            parts[2::7] = map(_sse_mid, batch.seq, batch.stream)
        else:
            parts[2::7] = map(_SSE_MID0.__getitem__, batch.stream)
        parts[3::7] = ts
        parts[5::7] = batch.json_texts()
        return b"".join(parts)
    if None in batch.ts:
        return b"".join(sse_records(batch))
    heads = list(
        map(
            _SSE_HEAD.__mod__,
            zip(
                batch.ns,
                batch.seq,
                map(_STREAM_JSON.__getitem__, batch.stream),
                batch.ts,
                strict=True,
            ),
        )
    )
    return _records(heads, batch.json_texts(), _SSE_TAIL)


def sse_records(batch: LineBatch) -> list[bytes]:
    """The same records, one per line (to pick some of them)."""
    return list(map(_sse_record, batch.ns, batch.seq, batch.stream, batch.ts, batch.json_texts()))


def ndjson_records(batch: LineBatch) -> bytes:
    """The lines as NDJSON, one `{stream, ts, line}` a line."""
    if None in batch.ts:
        return b"".join(
            b'{"stream":"%s","ts":%s,"line":"%s"}\n'
            % (_STREAM_JSON[stream], b'"%s"' % ts if ts is not None else b"null", text)
            for stream, ts, text in zip(batch.stream, batch.ts, batch.json_texts(), strict=True)
        )
    heads = list(
        map(
            _NDJSON_HEAD.__mod__,
            zip(map(_STREAM_JSON.__getitem__, batch.stream), batch.ts, strict=True),
        )
    )
    return _records(heads, batch.json_texts(), _NDJSON_TAIL)


def text_records(batch: LineBatch, *, timestamps: bool) -> bytes:
    """The lines as `docker logs` prints them (UTF-8; invalid bytes replaced)."""
    if not batch.raw:
        return b""
    if not timestamps:
        raw = b"\n".join(batch.raw)
    else:
        raw = b"\n".join(
            [
                ts + b" " + line if ts is not None else line
                for ts, line in zip(batch.ts, batch.raw, strict=True)
            ]
        )
    return raw.decode("utf-8", "replace").encode() + b"\n"


class _Headers(dict[int, bytes]):
    """Length of a frame without its newline → the header of a one-line stamped frame
    of that length on one stream (b"" when no such frame is that long or short)."""

    def __init__(self, kind: int) -> None:
        super().__init__()
        self.kind = kind

    def __missing__(self, length: int) -> bytes:
        if length < 39 or length > _FAST_MAX_PIECE:  # header, stamp, space / one message
            return b""
        if len(self) > 4 * _FAST_MAX_PIECE:
            self.clear()
        header = self[length] = _HEADER.pack(self.kind, length - 7)
        return header


_FAST_MAX_PIECE = 64 << 10  # the engine's messages are up to 16 KiB
_STDOUT_HEADERS, _STDERR_HEADERS = _Headers(1), _Headers(2)
_FRAME_HEADER = operator.itemgetter(slice(0, 8))
_FRAME_STAMP = operator.itemgetter(slice(8, 38))
_FRAME_SPACE = operator.itemgetter(38)
_FRAME_LINE = operator.itemgetter(slice(39, None))
_STREAM_OF = {True: _STDOUT, False: _STDERR}


class LogLines:
    """A `timestamps=1` logs body → timestamped lines with ids, in any chunking.

    Without a TTY the body is frames (8-byte header: stream 1 stdout / 2 stderr,
    3 bytes padding, big-endian uint32 length), one per log message, each starting
    with the engine's stamp and a space. A line longer than the log driver's buffer
    (16 KiB) is stored as several partial messages, so it arrives as several frames,
    each with its own stamp: every stamp is stripped and the pieces are joined (the
    line keeps its first piece's stamp). stdout and stderr are reassembled apart.

    With a TTY the body is raw text on one stream (`stdout`), split at newlines, a
    stamp at each line start and `\\r` dropped at each end; a line over 16 KiB keeps
    the engine's extra stamps inside it (a raw body does not show where messages end).

    A line over `max_line` bytes is cut (its pieces keep its stamp). Each line gets the
    id `(ts_ns, seq)`: its stamp in ns and a sequence among equal stamps, in order.

    The common case, one whole line per frame, takes a fast path that works on all the
    frames of a piece of body at once: the body is split at newlines, and each part
    that is exactly one frame (its header matches its length, a fixed-width stamp, a
    space) is a line. Every step is a C loop over the list (`map`, joins, slices).
    """

    __slots__ = ("_buf", "_last_ns", "_pending", "_seq", "max_line", "tty")

    def __init__(self, *, tty: bool, max_line: int = 8 << 20) -> None:
        self.tty = tty
        self.max_line = max_line
        self._buf = bytearray()  # the start of a frame (or TTY line) not complete yet
        self._last_ns = 0
        self._seq = -1
        # stream → (ns, ts, bytes so far) of a line not ended yet
        self._pending: dict[str, tuple[int, bytes | None, bytearray]] = {}

    def _emit(self, out: LineBatch, ns: int, stream: str, ts: bytes | None, raw: bytes) -> None:
        if ns == self._last_ns:
            self._seq += 1
        else:
            self._last_ns, self._seq = ns, 0
        out._ns.append(ns)
        out._fixed = False
        out.seq.append(self._seq)
        out.stream.append(stream)
        out.ts.append(ts)
        out.raw.append(raw)

    def _stamp(self, data: bytes, start: int, stop: int) -> tuple[int, bytes | None, int]:
        """The stamp at `start` (ns, its text, where the rest starts); no stamp: the
        last one seen, None, `start`."""
        if stop - start >= 31 and data[start + 30] == 32 and data[start + 29] == 90:
            # The engine's fixed width (RFC3339Nano, 9 digits, UTC): 30 characters.
            secs = _EPOCH_CACHE.get(data[start : start + 19])
            if secs is not None:
                ns = secs * 1_000_000_000 + int(data[start + 20 : start + 29])
                return ns, data[start : start + 30], start + 31
        space = data.find(b" ", start, min(stop, start + 41))
        if space - start >= 20 and data[space - 1] == 90 and data[start : start + 4].isdigit():
            ts = data[start:space]
            try:
                return ts_ns(ts), ts, space + 1
            except ValueError:
                pass
        return self._last_ns, None, start

    def _pieces(self, out: LineBatch, stream: str, data: bytes, start: int, stop: int) -> None:
        """The general case: a frame (or TTY text) that does not end exactly one line."""
        ns, ts, pos = self._stamp(data, start, stop)
        pending = self._pending.pop(stream, None)
        while pos < stop:
            nl = data.find(b"\n", pos, stop)
            if nl < 0:
                break
            if pending is not None:
                pending[2].extend(data[pos:nl])
                self._emit(out, pending[0], stream, pending[1], bytes(pending[2]))
                pending = None
            else:
                self._emit(out, ns, stream, ts, data[pos:nl])
            pos = nl + 1
        if pos < stop:
            if pending is None:
                pending = (ns, ts, bytearray())
            pending[2].extend(data[pos:stop])
            buf = pending[2]
            while len(buf) > self.max_line:
                self._emit(out, pending[0], stream, pending[1], bytes(buf[: self.max_line]))
                del buf[: self.max_line]
        if pending is not None:
            self._pending[stream] = pending

    def _frame(self, out: LineBatch, data: bytes, pos: int) -> int:
        """One frame at `pos` the general way: where the next starts (`pos` if this
        one is not whole yet)."""
        start = pos + 8
        stop = start + int.from_bytes(data[pos + 4 : start])
        if len(data) < start or stop > len(data):
            return pos
        self._pieces(out, _STDERR if data[pos] == 2 else _STDOUT, data, start, stop)
        return stop

    def feed(self, chunk: bytes) -> LineBatch:
        out = LineBatch()
        buf = self._buf
        if buf:
            buf += chunk
            # Wait for the whole frame (or, with a TTY, line) before copying anything.
            if self.tty:
                if b"\n" not in chunk and len(buf) <= self.max_line + 31:
                    return out
            elif len(buf) < 8 or len(buf) < 8 + int.from_bytes(buf[4:8]):
                return out
            data = bytes(buf)
            buf.clear()
        else:
            data = chunk
        if self.tty:
            self._feed_tty(out, data)
            return out
        pos = self._whole_lines(out, data)
        while True:
            stop = self._frame(out, data, pos)
            if stop == pos:
                break
            pos = stop
        self._buf += data[pos:]
        return out

    def _whole_lines(self, out: LineBatch, data: bytes) -> int:
        """The fast path, from the start of `data`: runs of one-line frames at once, and
        what lies between them frame by frame. Where it stopped (what is left is for
        the general path: an incomplete frame, or stamps that are not the engine's)."""
        parts = data.split(b"\n")
        parts.pop()  # after the last newline: not one whole line
        if not parts:
            return 0
        lengths = list(map(len, parts))
        headers = list(map(_FRAME_HEADER, parts))
        stdout = list(map(_STDOUT_HEADERS.__getitem__, lengths))
        if headers == stdout:
            whole, on_stdout = None, None  # every part one stdout frame
        else:
            on_stdout = list(map(operator.eq, headers, stdout))
            on_stderr = map(operator.eq, headers, map(_STDERR_HEADERS.__getitem__, lengths))
            whole = list(map(operator.or_, on_stdout, on_stderr))
        if self.max_line + 39 < _FAST_MAX_PIECE and max(lengths) > self.max_line + 39:
            return 0  # lines to cut: the general path
        n = len(parts)
        i = at = pos = 0  # part i starts at `at`; parsed up to `pos`
        while True:  # here pos == at, i < n
            if whole is None:
                stop = n
            else:
                try:
                    stop = whole.index(False, i)
                except ValueError:
                    stop = n
            if stop > i:
                streams = (
                    [_STDOUT] * (stop - i)
                    if on_stdout is None
                    else list(map(_STREAM_OF.__getitem__, on_stdout[i:stop]))
                )
                # A line still to finish on one of these streams: the general way.
                if not self._pending or self._pending.keys().isdisjoint(streams):
                    if not self._run(out, parts if stop - i == n else parts[i:stop], streams):
                        return pos
                    pos = at = at + sum(lengths[i:stop]) + stop - i
                    i = stop
                    if i == n:
                        return pos
            # Frames the general way, until one ends where a part starts.
            while True:
                end = self._frame(out, data, pos)
                if end == pos:
                    return pos
                pos = end
                while at < pos and i < n:
                    at += lengths[i] + 1
                    i += 1
                if i == n:
                    return pos
                if at == pos:
                    break

    def _run(self, out: LineBatch, run: list[bytes], streams: list[str]) -> bool:
        """One-line frames (headers checked): their lines, if each has a fixed-width
        stamp and a space; else False and nothing done."""
        ts = list(map(_FRAME_STAMP, run))
        n = len(run)
        span = _fixed_stamps(ts)
        if span is None or bytes(map(_FRAME_SPACE, run)) != b" " * n:
            return False
        if out._span is not None:
            span = min(span[0], out._span[0]), max(span[1], out._span[1])
        out._span = span
        first = _stamp_ns(ts[0])
        start = len(out._ns)
        if first != self._last_ns and not any(map(operator.eq, ts, islice(ts, 1, None))):
            out._ns += [0] * n
            out._lazy.append((start, start + n))
            out.seq += [0] * n
            self._seq = 0
            self._last_ns = _stamp_ns(ts[-1])
        else:
            ns = _stamps_ns(ts)
            seqs = []
            last, seq = self._last_ns, self._seq
            for x in ns:
                seq = seq + 1 if x == last else 0
                last = x
                seqs.append(seq)
            self._last_ns, self._seq = last, seq
            out._ns += ns
            out.seq += seqs
        out.stream += streams
        out.ts += ts
        out.raw += map(_FRAME_LINE, run)
        return True

    def _feed_tty(self, out: LineBatch, data: bytes) -> None:
        pos, end = 0, len(data)
        max_line = self.max_line
        while True:
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            stop = nl - 1 if nl > pos and data[nl - 1] == 13 else nl
            pending = self._pending.pop("stdout", None)
            if pending is not None:  # the rest of a line already cut: no stamp of its own
                ns, ts, start = pending[0], pending[1], pos
            else:
                ns, ts, start = self._stamp(data, pos, stop)
            while stop - start > max_line:
                self._emit(out, ns, "stdout", ts, data[start : start + max_line])
                start += max_line
            self._emit(out, ns, "stdout", ts, data[start:stop])
            pos = nl + 1
        # A line without its end yet: cut what is over max_line now.
        pending = self._pending.get("stdout")
        if pending is None and end - pos > max_line + 31:
            ns, ts, pos = self._stamp(data, pos, end)
            pending = self._pending["stdout"] = (ns, ts, bytearray())
        if pending is not None:
            while end - pos > max_line:
                self._emit(out, pending[0], "stdout", pending[1], data[pos : pos + max_line])
                pos += max_line
        self._buf += data[pos:]

    def flush(self) -> LineBatch:
        """What is left at the end of the body (lines without a final newline)."""
        out = LineBatch()
        if self.tty:
            if self._buf:
                data = bytes(self._buf) + b"\n"
                self._buf.clear()
                self._feed_tty(out, data)
            return out
        for stream, (ns, ts, buf) in self._pending.items():
            if buf:
                self._emit(out, ns, stream, ts, bytes(buf))
        self._pending.clear()
        return out


async def body_pieces(
    content: aiohttp.StreamReader, *, linger: float = 0.005, burst: int = 8192
) -> AsyncIterator[bytes]:
    """A streamed body's pieces as they come, but fewer and larger while a burst goes
    on: after a piece of `burst` bytes or more, wait `linger` seconds before the next
    read, and take all that came meanwhile. Each piece costs a wake-up all the way to
    the client (hub, subscriber, SSE response, socket write): a follow of a container
    printing as fast as it can then costs far less per line, for a few ms of delay.
    A quiet stream (small pieces) is read at once. The socket itself is still read
    meanwhile (into aiohttp's buffer): pausing it stalls the engine, whose one small
    write per line soon fills the socket's buffer."""
    busy = False
    while True:
        if busy:
            await asyncio.sleep(linger)
        chunk = await content.readany()
        if not chunk:
            return
        busy = len(chunk) >= burst
        yield chunk


async def iter_log_batches(
    chunks: AsyncIterator[bytes], *, tty: bool, max_line: int = 8 << 20
) -> AsyncIterator[LineBatch]:
    """`LineBatch`es from a raw logs body read with `timestamps=1` (see `LogLines`):
    one per piece of body read, empty ones skipped."""
    parser = LogLines(tty=tty, max_line=max_line)
    async for chunk in chunks:
        batch = parser.feed(chunk)
        if batch.raw:
            yield batch
    tail = parser.flush()
    if tail.raw:
        yield tail


async def iter_log_lines(
    chunks: AsyncIterator[bytes], *, tty: bool, max_line: int = 8 << 20
) -> AsyncIterator[LogLine]:
    """`LogLine`s from a raw logs body read with `timestamps=1` (one object per line:
    for tests and small reads; the routes work on `LineBatch`es)."""
    async for batch in iter_log_batches(chunks, tty=tty, max_line=max_line):
        for line in batch.lines():
            yield line


async def iter_log_text(
    chunks: AsyncIterator[bytes], *, tty: bool, timestamps: bool
) -> AsyncIterator[bytes]:
    """A logs body as `docker logs` prints it, in UTF-8 (invalid bytes become U+FFFD).

    Without a TTY the body must be read with `timestamps=1`: lines are parsed
    (`LogLines`: a line over 16 KiB is whole, its stamp shown once when `timestamps`),
    one piece of text per piece of body. A TTY body passes through as it is: ask the
    engine for stamps only when they are to be shown.
    """
    if not tty:
        async for batch in iter_log_batches(chunks, tty=False):
            yield text_records(batch, timestamps=timestamps)
        return
    decoder = _utf8_decoder(errors="replace")
    async for chunk in chunks:
        text = decoder.decode(chunk)
        if text:
            yield text.encode()
    tail = decoder.decode(b"", True)
    if tail:
        yield tail.encode()


def logs_params(
    *,
    tail: str | int | None = None,
    since: str | None = None,
    until: str | None = None,
    stdout: bool = True,
    stderr: bool = True,
    timestamps: bool = True,
    follow: bool = False,
) -> dict[str, str | bool]:
    """The engine's `/containers/{id}/logs` query (since/until already `engine_time`)."""
    if not stdout and not stderr:
        raise errors.ValidationFailed.field(
            ["query", "stdout"], "ask for stdout, stderr or both (both are false)"
        )
    params: dict[str, str | bool] = {
        "stdout": stdout,
        "stderr": stderr,
        "timestamps": timestamps,
        "follow": follow,
        "tail": str(tail) if tail is not None else "all",
    }
    if since is not None:
        params["since"] = since
    if until is not None:
        params["until"] = until
    return params
