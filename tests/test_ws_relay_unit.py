"""app/ws_relay.py's framing, byte for byte, with no network: a recording transport,
uvicorn's own config, and a small ASGI app that takes the direct lane (the end-to-end
tests are tests/test_ws_relay.py and tests/test_terminals.py)."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from app.ws_relay import RelayProtocol, relay_of

MASK = b"\x01\x02\x03\x04"
REQUEST = (
    b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) + b"\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    n = len(payload)
    if n < 126:
        size = bytes((0x80 | n,))
    elif n < 65536:
        size = b"\xfe" + n.to_bytes(2, "big")
    else:
        size = b"\xff" + n.to_bytes(8, "big")
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes(((0x80 if fin else 0) | opcode,)) + size + MASK + masked


class Transport:
    def __init__(self) -> None:
        self.out = b""
        self.paused = False
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class App:
    """Accepts, takes the lane (if `lane`), records what reaches it, both ways."""

    def __init__(self, lane: bool = True) -> None:
        self.lane = lane
        self.got: list[tuple[str, Any]] = []
        self.relay: RelayProtocol | None = None

    def sink(self, data: bytes) -> bool:
        self.got.append(("lane", data))
        return True

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        self.relay = relay_of(scope)
        if self.lane and self.relay is not None:
            self.relay.attach(self.sink)
        while (msg := await receive())["type"] != "websocket.disconnect":
            self.got.append(("asgi", msg.get("bytes", msg.get("text"))))


async def connect(
    app: App, first: bytes = REQUEST, max_size: int = 100_000
) -> tuple[RelayProtocol, Transport]:
    config = Config(app=app, ws="app.ws_relay:RelayProtocol", ws_max_size=max_size)
    config.load()
    proto = RelayProtocol(config, ServerState(), {})
    transport = Transport()
    proto.connection_made(transport)  # type: ignore[arg-type]
    proto.data_received(first)
    await settle()
    assert transport.out.startswith(b"HTTP/1.1 101"), transport.out
    transport.out = b""
    return proto, transport


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_whole_binary_frames_take_the_lane_and_the_rest_stays_in_order() -> None:
    app = App()
    proto, _ = await connect(app)
    assert app.relay is proto
    proto.data_received(frame(2, b"a") + frame(2, b"b") + frame(2, b"c"))  # one segment
    split = frame(2, b"split")
    for i in range(len(split)):
        proto.data_received(split[i : i + 1])
    mid, big = bytes(300), os.urandom(70_000)
    data = frame(2, mid) + frame(2, big)
    proto.data_received(data[:1000])
    proto.data_received(data[1000:])
    await settle()
    assert app.got == [("lane", b"a"), ("lane", b"b"), ("lane", b"c"), ("lane", b"split"),
                       ("lane", mid), ("lane", big)]  # fmt: skip
    app.got.clear()
    # Text, then binary in the same segment: the binary waits behind the text.
    proto.data_received(frame(1, b'{"type": "eof"}') + frame(2, b"after"))
    # A fragmented binary message with a ping inside: one ASGI message.
    proto.data_received(frame(2, b"frag-", fin=False) + frame(9, b"p") + frame(0, b"ment"))
    await settle()
    proto.data_received(frame(2, b"lane-again"))
    await settle()
    assert app.got == [("asgi", '{"type": "eof"}'), ("asgi", b"after"),
                       ("asgi", b"frag-ment"), ("lane", b"lane-again")]  # fmt: skip


async def test_pings_are_answered_and_sends_are_framed() -> None:
    app = App()
    proto, transport = await connect(app)
    proto.data_received(frame(9, b"hi"))
    assert transport.out == b"\x8a\x02hi"  # the pong, unmasked
    transport.out = b""
    for n, head in ((5, b"\x82\x05"), (300, b"\x82\x7e\x01\x2c"),
                    (70_000, b"\x82\x7f" + (70_000).to_bytes(8, "big"))):  # fmt: skip
        assert proto.send_now(b"x" * n)
        assert transport.out == head + b"x" * n
        transport.out = b""


async def test_an_oversized_frame_closes_1009_without_reaching_the_app() -> None:
    app = App()
    proto, transport = await connect(app, max_size=1000)
    proto.data_received(frame(2, b"y" * 1001)[:500])  # its header says too big
    await settle()
    assert transport.out[0] == 0x88  # a close frame
    assert transport.out[2:4] == (1009).to_bytes(2, "big")
    assert transport.closed
    assert not proto.send_now(b"late")
    assert all(kind != "lane" for kind, _ in app.got)


async def test_a_frame_before_the_101_keeps_websockets_parsing_throughout() -> None:
    app = App()
    proto, _ = await connect(app, first=REQUEST + frame(2, b"early"))
    proto.data_received(frame(2, b"later"))
    await settle()
    assert app.got == [("asgi", b"early"), ("asgi", b"later")]


async def test_a_paused_sink_stays_paused_while_asgi_messages_are_read() -> None:
    app = App()
    proto, transport = await connect(app)
    proto.pause_sink()
    proto.data_received(frame(1, b"resize"))
    await settle()
    assert app.got == [("asgi", "resize")]
    assert transport.paused  # the ASGI read did not resume it
    proto.resume_sink()
    assert not transport.paused


async def test_without_the_lane_everything_is_asgi() -> None:
    app = App(lane=False)
    proto, _ = await connect(app)
    proto.data_received(frame(2, b"one") + frame(2, b"two"))
    await settle()
    assert app.got == [("asgi", b"one"), ("asgi", b"two")]
