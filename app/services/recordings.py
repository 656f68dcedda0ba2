"""Terminal recordings as asciicast v2 files (`MOORAGE_TERMINAL_RECORDINGS`, off by default).

One file per session: a JSON header line, then `[seconds, "o", text]` for output and
`[seconds, "r", "COLSxROWS"]` for a resize. Input is not recorded (what a terminal
types includes passwords). Lines are buffered and written from a worker thread, so
the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import time
from pathlib import Path
from typing import IO

_FLUSH_AT = 32 << 10


class Recording:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None
        self._buf = bytearray()
        self._t0 = time.monotonic()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    @classmethod
    async def open(
        cls, folder: Path, name: str, *, size: tuple[int, int], command: list[str]
    ) -> Recording:
        rec = cls(folder / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{name}.cast")
        header = {
            "version": 2,
            "width": size[1],
            "height": size[0],
            "timestamp": int(time.time()),
            "command": " ".join(command),
        }

        def create() -> IO[bytes]:
            folder.mkdir(parents=True, exist_ok=True)
            return rec.path.open("xb")

        rec._file = await asyncio.to_thread(create)
        rec._line(header)
        return rec

    def _line(self, doc: object) -> None:
        self._buf += json.dumps(doc, ensure_ascii=False).encode() + b"\n"

    def _at(self) -> float:
        return round(time.monotonic() - self._t0, 6)

    async def output(self, data: bytes) -> None:
        if text := self._decoder.decode(data):
            self._line([self._at(), "o", text])
        if len(self._buf) >= _FLUSH_AT:
            await self.flush()

    def resize(self, rows: int, cols: int) -> None:
        self._line([self._at(), "r", f"{cols}x{rows}"])

    async def flush(self) -> None:
        if self._file is not None and self._buf:
            chunk, self._buf = bytes(self._buf), bytearray()
            await asyncio.to_thread(self._file.write, chunk)

    async def close(self) -> None:
        if rest := self._decoder.decode(b"", final=True):
            self._line([self._at(), "o", rest])
        await self.flush()
        if self._file is not None:
            file, self._file = self._file, None
            await asyncio.to_thread(file.close)
