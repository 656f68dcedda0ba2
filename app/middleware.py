"""ASGI middleware: request body limits, requests cut short by a shutdown."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import errors


class BodyLimit:
    """Refuse bodies over the limit with 413, whether announced or streamed.

    JSON bodies have a tighter limit than uploads (tar archives, build contexts).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_json_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_bytes = max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # One pass over the headers, no dict (the last of a repeated header wins, as in one).
        raw_ctype = b""
        length: bytes | None = None
        chunked = False
        for key, value in scope["headers"]:
            if key == b"content-type":
                raw_ctype = value
            elif key == b"content-length":
                length = value
            elif key == b"transfer-encoding":
                chunked = True
        ctype = raw_ctype.decode("latin-1")
        limit = self.max_json_bytes if "json" in ctype or not ctype else self.max_bytes
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        if scope["method"] in ("GET", "HEAD") and length in (None, b"0") and not chunked:
            # No body: nothing to count, and no wrapper for a long-lived stream to hold.
            await self.app(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise errors.PayloadTooLarge(f"The body is over {limit} bytes")
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        request = Request(scope, receive)
        response = errors.problem_response(
            request, errors.PayloadTooLarge(f"The body is over {limit} bytes")
        )
        await response(scope, receive, send)


class ShutdownCut:
    """A request still running when the shutdown grace period ends is cancelled by
    uvicorn, which then answers a bare text/plain 500. Answer a problem instead:
    503 shutting-down with Retry-After, so clients retry against the next instance.
    """

    def __init__(self, app: ASGIApp, retry_after: int) -> None:
        self.app = app
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            if started:
                raise  # a response (or stream) under way: the connection just closes
            err = errors.ShuttingDown(
                "The service stopped before this request finished; it may or may not "
                "have taken effect on the engine",
                retry_after=self.retry_after,
            )
            response = errors.problem_response(Request(scope, receive), err)
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
