"""uvicorn's sans-I/O WebSocket protocol with a direct lane for terminal bytes.

`moorage serve` runs uvicorn with `ws="app.ws_relay:RelayProtocol"`. For every socket
it is uvicorn's `websockets-sansio` implementation, ASGI and all; what it adds is
offered to the app as the ASGI extension `moorage.relay` (`{"protocol": <this>}` in
`scope["extensions"]`), and only a terminal uses it (app/services/terminals.py):

- `attach(sink)`: a complete, unfragmented binary frame goes straight to `sink(data)`
  from `data_received`, with no ASGI message, no queue, no task wake-up and no
  pause/resume of the transport per message. Anything else (text, control frames,
  fragments, a frame while an ASGI message waits, a frame the sink refuses) goes the
  ASGI way, in order.
- `send_now(data)`: one unmasked binary frame written to the transport at once.
- `pause_sink()` / `resume_sink()`: stop reading the client while the engine's side
  is full (bytes in flight stay bounded).

Why: a keystroke is one tiny frame each way, and the per-message Python of the ASGI
path (websockets' generator parser, the receive queue, a transport pause and resume,
Starlette's state checks, a task switch) was most of moorage's CPU per key
(bench/RESULTS.md "Terminals").

So that websockets' own parser only ever sees whole frames (and stays at a frame
boundary), once the handshake is done this class splits the byte stream into frames
itself and feeds websockets each frame it does not take, whole. It takes over only
when nothing but the HTTP request came before the 101 (else the connection keeps the
plain path throughout).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from uvicorn._types import ASGIReceiveEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the pure-Python build of websockets
    from websockets.utils import apply_mask

EXTENSION = "moorage.relay"
Sink = Callable[[bytes], bool]


class RelayProtocol(WebSocketsSansIOProtocol):
    """See the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head = b""  # the bytes up to the HTTP request's end
        self._clean = False  # nothing but the request came before the 101
        self._framing = False  # this class splits the stream into frames
        self._tail = b""  # the start of a frame not yet complete
        self._sink: Sink | None = None
        self._sink_paused = False
        limit = self.config.ws_max_size
        self._max = limit if limit else 2**63

    # -- the app's side ---------------------------------------------------------------

    def attach(self, sink: Sink | None) -> None:
        """Binary frames to `sink` from now on (None: the ASGI way again). The sink
        returns False for bytes it cannot take: they go the ASGI way, and so does
        every later frame until `attach` is called again."""
        self._sink = sink

    def send_now(self, data: bytes) -> bool:
        """Write one binary frame now; False when the socket is closing or gone. The
        transport may be past its high-water mark afterwards: `writable` tells."""
        if self.disconnected or self.close_sent or self.conn.state is not State.OPEN:
            return False
        n = len(data)
        if n < 126:
            head = bytes((0x82, n))
        elif n < 65536:
            head = b"\x82\x7e" + n.to_bytes(2, "big")
        else:
            head = b"\x82\x7f" + n.to_bytes(8, "big")
        self.transport.write(head + data)
        return True

    def pause_sink(self) -> None:
        self._sink_paused = True
        self.transport.pause_reading()

    def resume_sink(self) -> None:
        self._sink_paused = False
        if not self.read_paused and not self.transport.is_closing():
            self.transport.resume_reading()

    # -- uvicorn's side ---------------------------------------------------------------

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:
            # The ASGI task is created but has not run: the scope can still grow.
            self.scope["extensions"][EXTENSION] = {"protocol": self}

    def data_received(self, data: bytes) -> None:
        if self._framing:
            self._frames(data)
            return
        if not self.handshake_initiated:
            self._head += data
            super().data_received(data)
            if self.handshake_initiated:
                # websockets reads the request up to its first empty line.
                self._clean = self._head.find(b"\r\n\r\n") + 4 == len(self._head)
                self._head = b""
            return
        if self._clean and self.handshake_complete and self.conn.state is State.OPEN:
            self._framing = True
            self._frames(data)
            return
        self._clean = False  # bytes before the 101: websockets parses them, always
        super().data_received(data)

    async def receive(self) -> ASGIReceiveEvent:
        # uvicorn's, except that reading stays paused while the sink asks for it.
        message = await self.queue.get()
        if self.read_paused and self.queue.empty():
            self.read_paused = False
            if not self._sink_paused:
                self.transport.resume_reading()
        return message

    def _frames(self, data: bytes) -> None:
        buf = self._tail + data if self._tail else data
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if b1 & 0x80:
                head += 4
            end = pos + head + length
            if length > self._max:
                # websockets closes with 1009; no buffering up to it.
                self._framing = False
                self._tail = b""
                self._to_websockets(buf[pos:])
                return
            if end > size:
                break
            sink = self._sink
            if (
                sink is not None
                and b0 == 0x82  # FIN, no RSV bits, binary
                and b1 & 0x80  # masked, as a client's must be
                and self.queue.empty()  # nothing ahead of it on the ASGI way
                and self.conn.current_size is None  # no fragmented message open
                and not self.close_sent
            ):
                payload = apply_mask(buf[pos + head : end], buf[pos + head - 4 : pos + head])
                if not sink(payload):
                    self._sink = None
                    self.queue.put_nowait({"type": "websocket.receive", "bytes": payload})
            elif not self._to_websockets(buf[pos:end]):
                self._tail = b""
                return
            pos = end
        self._tail = buf[pos:]

    def _to_websockets(self, frame: bytes) -> bool:
        """One whole frame (or the rest of the stream) through websockets; False when
        that failed the connection."""
        self.conn.receive_data(frame)
        if self.conn.parser_exc is not None:
            self.handle_parser_exception()
            return False
        self.handle_events()
        return True


def relay_of(scope: Mapping[str, Any]) -> RelayProtocol | None:
    """The socket's direct lane, when the server is this protocol."""
    ext = (scope.get("extensions") or {}).get(EXTENSION)
    protocol = ext.get("protocol") if isinstance(ext, dict) else None
    return protocol if isinstance(protocol, RelayProtocol) else None
