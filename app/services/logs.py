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

import codecs
import operator
import re
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import cast

import orjson

from app import errors

STREAMS = {0: "stdin", 1: "stdout", 2: "stderr"}
_HEADER = struct.Struct(">BxxxL")
# A frame as the engine sends almost every one (`timestamps=1`): stdout or stderr, a
# fixed-width stamp, one whole line (no NUL inside: a frame header always has some,
# so a match can never run into the next frame).
_WHOLE_LINE_FRAME = (
    rb"([\x01\x02])\x00\x00\x00(....)"
    rb"((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{9})Z) ([^\x00\n]*)\n"
)
_WHOLE_LINE = re.compile(_WHOLE_LINE_FRAME, re.DOTALL)
_WHOLE_LINES = re.compile(rb"(?:" + _WHOLE_LINE_FRAME + rb")*+", re.DOTALL)
_KIND_STREAM = {b"\x01": "stdout", b"\x02": "stderr"}
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


@dataclass(slots=True)
class LineBatch:
    """Lines parsed from one piece of a logs body, held by column (no object per line).

    `ns`/`seq` make each line's id, `ts` is the engine's stamp as it was sent
    (ASCII, or None when a frame had none), `raw` the line's bytes without the
    newline or the stamp.
    """

    ns: list[int] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)
    stream: list[str] = field(default_factory=list)
    ts: list[bytes | None] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.raw)

    def texts(self) -> list[str]:
        """The lines as text; invalid UTF-8 becomes U+FFFD (one decode for the batch)."""
        if not self.raw:
            return []
        # A newline is never part of a multi-byte sequence: decoding the joined lines
        # replaces exactly what decoding each line would.
        return b"\n".join(self.raw).decode("utf-8", "replace").split("\n")

    def json_texts(self) -> list[bytes]:
        """Each line as the inside of a JSON string (escaped, without the quotes)."""
        if not self.raw:
            return []
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


def sse_events(batch: LineBatch) -> bytes:
    """The lines as `event: log` SSE records (id `<ts_ns>-<seq>`, data `{stream, ts,
    line}`), joined."""
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
    The common case, one whole line per frame, takes a short path.
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
        out.ns.append(ns)
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
        pos, end = 0, len(data)
        fast = True
        while True:
            if fast and not self._pending:
                stop = _WHOLE_LINES.match(data, pos).end()  # type: ignore[union-attr]
                if stop > pos:
                    fast = self._whole_lines(out, data, pos, stop)
                    if fast:
                        pos = stop
            if end - pos < 8:
                break
            start = pos + 8
            stop = start + int.from_bytes(data[pos + 4 : start])
            if stop > end:
                break
            self._pieces(out, "stderr" if data[pos] == 2 else "stdout", data, start, stop)
            pos = stop
        self._buf += data[pos:]
        return out

    def _whole_lines(self, out: LineBatch, data: bytes, pos: int, stop: int) -> bool:
        """Frames of one whole line each, from `pos` to `stop`: every step a C loop
        over the lines. False (nothing done) if a frame's length does not match."""
        kinds, sizes, stamps, heads, fracs, raws = zip(
            *_WHOLE_LINE.findall(data, pos, stop), strict=True
        )
        if list(map(int.from_bytes, sizes)) != list(map((32).__add__, map(len, raws))):
            return False
        cached = list(map(_EPOCH_CACHE.get, heads))
        if None in cached:
            try:
                cached = [
                    c if c is not None else ts_ns(h + b"Z") // 1_000_000_000
                    for c, h in zip(cached, heads, strict=True)
                ]
            except ValueError:
                return False  # not a date: the slow path keeps such lines unstamped
        secs = cast(list[int], cached)
        ns = list(map(operator.add, map((10**9).__mul__, secs), map(int, fracs)))
        if ns[0] != self._last_ns and not any(map(operator.eq, ns, islice(ns, 1, None))):
            seqs = [0] * len(ns)
            self._seq = 0
        else:
            seqs = []
            last, seq = self._last_ns, self._seq
            for n in ns:
                seq = seq + 1 if n == last else 0
                last = n
                seqs.append(seq)
            self._seq = seq
        self._last_ns = ns[-1]
        out.ns += ns
        out.seq += seqs
        out.stream += map(_KIND_STREAM.__getitem__, kinds)
        out.ts += stamps
        out.raw += raws
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
