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
