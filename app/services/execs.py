"""Exec: create, run attached (as a stream of output chunks), collect.

`exec_attached` is the one way an attached exec runs: an async generator of
`("stdout" | "stderr", bytes)` chunks, then the exit code (an `int`). The JSON
route collects it (`collect`); the SSE form relays the same generator
(`exec_events`).
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any, Literal

from app import errors
from app.engine import Engine
from app.models.execs import ExecDemuxOutput, ExecOutput, ExecSpec, ExecState
from app.services.logs import FrameParser
from app.streams import encode

Stream = Literal["stdout", "stderr"]
ExecItem = tuple[Stream, bytes] | int

# After the output ends the engine may take a moment to record the exit code.
_EXIT_POLL = 0.02
_EXIT_WAIT = 10.0
# Output kept for a JSON answer (per stream with demux); the rest is dropped.
OUTPUT_LIMIT = 16 << 20


async def exec_create(engine: Engine, container: str, spec: ExecSpec) -> str:
    """Create the exec instance; 409 when the container is stopped or paused."""
    doc: dict[str, Any] = await engine.json(
        "POST",
        f"containers/{container}/exec",
        json=spec.to_engine(),
        kind="container",
        ref=container,
    )
    return str(doc["Id"])


async def exec_state(engine: Engine, exec_id: str) -> ExecState:
    doc: dict[str, Any] = await engine.json("GET", f"exec/{exec_id}/json", kind="exec", ref=exec_id)
    return ExecState.model_validate(doc)


async def exec_start_detached(engine: Engine, exec_id: str, *, tty: bool) -> None:
    await engine.json(
        "POST", f"exec/{exec_id}/start", json={"Detach": True, "Tty": tty}, kind="exec"
    )


async def exit_code(engine: Engine, exec_id: str) -> int:
    """The exit code, once the engine has recorded it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _EXIT_WAIT
    while True:
        state = await exec_state(engine, exec_id)
        if not state.running and state.exit_code is not None:
            return state.exit_code
        if loop.time() > deadline:
            raise errors.EngineError(f"exec {exec_id} ended its output but reports no exit code")
        await asyncio.sleep(_EXIT_POLL)


async def exec_attached(
    engine: Engine, exec_id: str, *, tty: bool
) -> AsyncGenerator[ExecItem, None]:
    """Start an attached exec: its output chunks as they come, then its exit code.

    With a TTY everything is `stdout`. Closing the generator early releases the
    engine connection (the process itself runs on).
    """
    frames = FrameParser(tty=tty)
    async with engine.request(
        "POST",
        f"exec/{exec_id}/start",
        json={"Detach": False, "Tty": tty},
        long=True,
        kind="exec",
        ref=exec_id,
    ) as response:
        async for chunk in response.content.iter_any():
            for stream, data in frames.feed(chunk):
                if stream != "stdin" and data:
                    yield ("stderr" if stream == "stderr" else "stdout"), data
    yield await exit_code(engine, exec_id)


async def collect(
    items: AsyncIterator[ExecItem], *, demux: bool, limit: int = OUTPUT_LIMIT
) -> ExecOutput | ExecDemuxOutput:
    """Gather an attached exec's output into one result.

    Output past `limit` bytes (per stream with `demux`) is read and dropped, so the
    exit code is still the real one; `truncated` says so.
    """
    kept: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray(), "both": bytearray()}
    truncated = False
    code = -1
    async for item in items:
        if isinstance(item, int):
            code = item
            continue
        stream, data = item
        buf = kept[stream if demux else "both"]
        room = limit - len(buf)
        if len(data) > room:
            truncated = True
            data = data[: max(room, 0)]
        buf.extend(data)

    def text(key: str) -> str:
        return kept[key].decode("utf-8", "replace")

    if demux:
        return ExecDemuxOutput(
            exit_code=code, stdout=text("stdout"), stderr=text("stderr"), truncated=truncated
        )
    return ExecOutput(exit_code=code, output=text("both"), truncated=truncated)


async def exec_events(items: AsyncGenerator[ExecItem, None]) -> AsyncIterator[bytes]:
    """An attached exec as SSE: `stdout` / `stderr` `{"data": text}` per chunk, then
    `exit` `{"exit_code": N}`.

    Each stream has its own incremental UTF-8 decoder, so a character split across
    chunks stays whole and invalid bytes become U+FFFD. Closing this generator (the
    client went away) closes the engine connection.
    """
    decoders = {s: codecs.getincrementaldecoder("utf-8")("replace") for s in ("stdout", "stderr")}
    async with aclosing(items):
        async for item in items:
            if isinstance(item, int):
                for stream, decoder in decoders.items():
                    if rest := decoder.decode(b"", final=True):
                        yield encode(stream, {"data": rest})
                yield encode("exit", {"exit_code": item})
                return
            stream, data = item
            if text := decoders[stream].decode(data):
                yield encode(stream, {"data": text})
