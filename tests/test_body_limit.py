"""BodyLimit (app/middleware.py) as a bare ASGI app: announced sizes, by content type."""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope, Send

from app.middleware import BodyLimit


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _status(headers: list[tuple[bytes, bytes]]) -> int:
    app = BodyLimit(_ok, max_bytes=1000, max_json_bytes=100)
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/x",
        "raw_path": b"/v1/x",
        "query_string": b"",
        "headers": headers,
        "app": None,
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"])


def test_announced_sizes_by_content_type() -> None:
    json = (b"content-type", b"application/json")
    tar = (b"content-type", b"application/x-tar")
    assert _status([json, (b"content-length", b"100")]) == 200
    assert _status([json, (b"content-length", b"101")]) == 413
    assert _status([(b"content-length", b"101")]) == 413  # no type: the JSON limit
    assert _status([tar, (b"content-length", b"1000")]) == 200
    assert _status([tar, (b"content-length", b"1001")]) == 413
    # A repeated header: the last one counts (as it did with a dict of the headers).
    assert _status([tar, json, (b"content-length", b"500")]) == 413
    assert _status([json, tar, (b"content-length", b"500")]) == 200
