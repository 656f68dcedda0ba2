"""A webhook receiver on loopback for the alert tests: records every request, and
answers as told (200, 500, a redirect, or not at all until released)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.conftest import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def delivery(self) -> str:
        return self.headers.get("X-Moorage-Delivery", "")

    def json(self) -> Any:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        want = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("X-Moorage-Signature", ""), want)


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    mode: str = "ok"  # ok | fail | hang | redirect
    redirect_to: str = ""
    got: list[Received] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.got.append(Received(request.path, dict(request.headers), body, time.time()))
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()
        if self.mode == "hang":
            await self.release.wait()
            return web.Response(text="late")
        if self.mode == "fail":
            return web.Response(status=500, text="down for maintenance")
        if self.mode == "redirect":
            raise web.HTTPTemporaryRedirect(self.redirect_to)
        return web.Response(text="ok")

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, predicate: Any, timeout: float = 30) -> list[Received]:  # noqa: ASYNC109
        """Until `predicate(got)` holds; the requests then."""
        async with asyncio.timeout(timeout):
            while not predicate(self.got):
                arrived = self._arrived
                await arrived.wait()
        return self.got

    def alerts(self, path: str | None = None) -> list[Any]:
        return [r.json() for r in self.got if path is None or r.path == path]
