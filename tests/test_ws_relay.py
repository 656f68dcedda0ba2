"""The terminal's direct lane (app/ws_relay.py) against a real engine, spoken by hand.

A raw WebSocket client writes frames the way a network delivers them: several in one
segment, one split byte by byte, 7-bit, 16-bit and 64-bit lengths, a fragmented
message, pings and text controls between binary frames. Under `moorage serve` with the
relay (the default) and with uvicorn's own websockets-sansio (no lane: the ASGI way),
stdin must receive exactly the bytes sent, in order.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, docker, run_sleeper
from tests.test_terminals import Served, processes, wait_for

pytestmark = pytest.mark.slow


def _served(tmp: Path, **env: str) -> Iterator[LiveServer]:
    live = Served(
        env={
            "MOORAGE_AUDIT_DB": str(tmp / "audit.sqlite3"),
            "MOORAGE_TERMINAL_REATTACH_GRACE": "3",
            "MOORAGE_TERMINAL_MAX_MESSAGE": "100000",
            **env,
        }
    ).start(wait_ready=True)
    yield live
    live.stop()


@pytest.fixture(scope="module", params=["relay", "websockets-sansio"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from _served(tmp_path_factory.mktemp("relay"), MOORAGE_WEBSOCKET=request.param)


@pytest.fixture
def box(name: str, image: str) -> Iterator[str]:
    run_sleeper(image, name)
    yield name
    docker("rm", "-f", name, check=False)


class Raw:
    """A WebSocket client by hand over one TCP connection (masked client frames)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.mask = os.urandom(4)

    @classmethod
    async def open(cls, server: LiveServer, path: str) -> Raw:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
        assert b" 101 " in head.split(b"\r\n", 1)[0], head
        return cls(reader, writer)

    def frame(self, opcode: int, payload: bytes, fin: bool = True) -> bytes:
        n = len(payload)
        if n < 126:
            size = bytes((0x80 | n,))
        elif n < 65536:
            size = bytes((0x80 | 126,)) + n.to_bytes(2, "big")
        else:
            size = bytes((0x80 | 127,)) + n.to_bytes(8, "big")
        masked = bytes(b ^ self.mask[i % 4] for i, b in enumerate(payload))
        return bytes(((0x80 if fin else 0) | opcode,)) + size + self.mask + masked

    async def recv(self) -> tuple[int, bytes]:
        b0, b1 = await self.reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await self.reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await self.reader.readexactly(8), "big")
        return b0 & 0x0F, await self.reader.readexactly(n)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()

    async def until_exit(self, limit: float = 30) -> tuple[bytes, dict[str, Any]]:
        """Output (channel bytes stripped when `channels`) until the exit frame."""
        out = b""
        async with asyncio.timeout(limit):
            while True:
                opcode, data = await self.recv()
                if opcode == 2:
                    out += data
                elif opcode == 1:
                    doc = json.loads(data)
                    if doc["type"] == "exit":
                        return out, doc
                elif opcode == 8:
                    raise AssertionError(f"closed before exit: {data!r}")


async def open_exec(server: LiveServer, container: str, **spec: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        r = await c.post(f"/v1/containers/{container}/exec", json={"interactive": True, **spec})
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


async def test_stdin_gets_every_byte_in_order_however_frames_arrive(
    server: LiveServer, box: str
) -> None:
    t = await open_exec(server, box, tty=False, cmd=["cat"])
    ws = await Raw.open(server, t["ws"])
    opcode, ready = await ws.recv()
    assert opcode == 1
    assert json.loads(ready)["channels"] is True
    sent = b""

    async def send(raw: bytes, *payloads: bytes) -> None:
        nonlocal sent
        ws.writer.write(raw)
        await ws.writer.drain()
        sent += b"".join(payloads)

    keys = [bytes((97 + i,)) for i in range(10)]
    await send(b"".join(ws.frame(2, k) for k in keys), *keys)  # ten frames, one segment
    split = ws.frame(2, b"split-frame")
    for i in range(len(split)):  # one frame, a byte at a time
        ws.writer.write(split[i : i + 1])
        await ws.writer.drain()
        await asyncio.sleep(0.002)
    sent += b"split-frame"
    mid = bytes(range(256)) + b"16-bit length"
    big = os.urandom(70_000)
    await send(ws.frame(2, mid) + ws.frame(2, big), mid, big)
    # A fragmented message, a ping inside it, a resize: whole messages, in order.
    frags = ws.frame(2, b"frag-", fin=False) + ws.frame(9, b"p") + ws.frame(0, b"ment")
    await send(frags, b"frag-ment")
    resize = ws.frame(1, json.dumps({"type": "resize", "rows": 30, "cols": 90}).encode())
    await send(
        resize + ws.frame(2, b"after-text") + ws.frame(2, b"-and-more"), b"after-text-and-more"
    )
    await send(ws.frame(1, b'{"type": "eof"}'))
    out, exit_frame = await ws.until_exit()
    await ws.close()
    # Without a TTY each output frame is a channel byte and data: stdout only here.
    assert exit_frame["exit_code"] == 0
    assert out.replace(b"\x01", b"") == sent.replace(b"\x01", b"")
    assert len(out) > len(sent)  # the channel bytes


async def test_keystrokes_echo_through_a_tty(server: LiveServer, box: str) -> None:
    t = await open_exec(server, box, tty=True, cmd=["cat"])
    ws = await Raw.open(server, t["ws"])
    assert (await ws.recv())[0] == 1
    for i in range(50):
        key = bytes((97 + i % 26,))
        ws.writer.write(ws.frame(2, key))
        async with asyncio.timeout(15):
            while (got := await ws.recv())[0] != 2:
                pass
        assert got[1] == key
    # The line is still the TTY's: a newline hands it to cat, then ^D ends cat.
    ws.writer.write(ws.frame(2, b"\r") + ws.frame(2, b"\x04"))
    _, exit_frame = await ws.until_exit()
    assert exit_frame["exit_code"] == 0
    await ws.close()


async def test_a_frame_over_the_limit_closes_1009_and_nothing_reaches_stdin(
    server: LiveServer, box: str
) -> None:
    t = await open_exec(server, box, tty=False, cmd=["sh", "-c", "cat > /over.txt"])
    ws = await Raw.open(server, t["ws"])
    assert (await ws.recv())[0] == 1
    ws.writer.write(ws.frame(2, b"x" * 100_001))
    async with asyncio.timeout(15):
        while (got := await ws.recv())[0] != 8:
            pass
    assert int.from_bytes(got[1][:2], "big") == 1009
    await ws.close()
    # Not a close 1000: the terminal waits out its grace, then ends its process.
    await wait_for(lambda: not any("cat" in p for p in processes(box)), limit=30)
    proc = await asyncio.create_subprocess_exec(
        "docker", "exec", box, "sh", "-c", "wc -c < /over.txt",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert out.strip() == b"0"
