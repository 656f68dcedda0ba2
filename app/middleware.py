"""ASGI middleware: request body limits, requests cut short by a shutdown, hot reads."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import errors
from app.targets import HOST_NAME_PATTERN

Authorize = Callable[[Request], Awaitable[object]]


class BodyLimit:
    """Refuse bodies over the limit with 413, whether announced or streamed, and bodies
    that take too long to arrive with 408 (a client trickling its body byte by byte
    holds a request, and its memory, for as long as it likes otherwise).

    JSON bodies have a tighter limit than uploads (tar archives, build contexts). The
    time limit runs from the start of the request to the body's last byte; once the
    body is in, `receive` is left alone (a stream waits on it for the disconnect).
    Credentials were checked before this (app/security.py `AuthenticateFirst`).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, max_json_bytes: int, timeout: float = 300.0
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_bytes = max_json_bytes
        self.timeout = timeout

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
        complete = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout

        async def counting_receive() -> Message:
            nonlocal seen, complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise errors.RequestTimeout(
                    f"The body did not arrive within {self.timeout:g} s "
                    f"({seen} bytes came); the request was dropped",
                    headers={"Connection": "close"},
                ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise errors.PayloadTooLarge(f"The body is over {limit} bytes")
                complete = not message.get("more_body", False)
            else:
                complete = True  # disconnected
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


# -- hot reads --------------------------------------------------------------------------

# pydantic's words for a bool (lower case, as sent by every client we know); anything
# else (`?fresh=TRUE`, a repeated flag, an unknown parameter) takes the routed path.
_BOOL_WORDS: dict[bytes, bool] = {
    **dict.fromkeys((b"1", b"true", b"t", b"yes", b"y", b"on"), True),
    **dict.fromkeys((b"0", b"false", b"f", b"no", b"n", b"off"), False),
}

Flags = Mapping[str, bool]
Answer = Callable[[Any, str, Flags], Awaitable[Response]]

# A host name as `?host=` carries it (app/targets.py HOST_NAME_PATTERN): no escapes.
_HOST_NAME = re.compile(HOST_NAME_PATTERN.encode())


@dataclass(frozen=True)
class HotRead:
    """A `GET {prefix}/{id}[?flag=bool&...][&host=name]` route (its flags False by
    default) that `HotReads` answers itself.

    `answer(host, id, flags)` is the route's own body, shared with its handler, so the
    two cannot drift; `host` is the host the request names (app/hosts.py `Host`; the
    default one without `host=`). `route` is the registered route (OpenAPI, every
    request the hot path leaves alone, and the operationId that metrics and roles go by).
    """

    route: APIRoute
    flags: tuple[str, ...]
    answer: Answer
    takes_host: bool = False

    @classmethod
    def of(cls, router: APIRouter, name: str, flags: tuple[str, ...], answer: Answer) -> HotRead:
        route = next(r for r in router.routes if isinstance(r, APIRoute) and r.name == name)
        # Whatever the routed path would read or run that this one would not: refuse.
        dep = route.dependant
        query = {q.alias: (q.field_info.annotation, q.default) for q in dep.query_params}
        host = query.pop("host", None)
        takes_host = host is not None
        if host is not None and host != (str | None, None):
            query["host"] = host  # not the plain optional host name: refused below
        plain = (
            route.methods == {"GET"}
            and route.path.endswith("/{id}")
            and "{" not in route.path.removesuffix("/{id}")
            and [p.name for p in dep.path_params] == ["id"]
            and bool(flags)
            and query == dict.fromkeys(flags, (bool, False))
            and not (dep.header_params or dep.cookie_params or dep.body_params)
            and not (dep.dependencies or route.dependencies or router.dependencies)
        )
        if not plain:
            raise ValueError(
                f"{name}: a hot read is a plain GET .../{{id}}?{'&'.join(flags)}= (bool "
                "flags), no dependencies"
            )
        return cls(route, flags, answer, takes_host)

    @property
    def prefix(self) -> str:
        return self.route.path.removesuffix("{id}")


class HotReads:
    """The hottest reads without FastAPI's routing and dependency solving.

    FastAPI spends most of a cached read's time choosing the route (nested routers)
    and solving its parameters and the app-wide `authorize`. Here a plain
    `GET /v1/containers/{id}` (no query, or only its bool flags) is recognised by its
    path, runs the same `authorize` (authentication, role by operationId), and answers
    with the route's own function. It sits inside every other middleware (metrics,
    audit, CORS, security headers, shutdown), and sets `scope["route"]` as routing
    would, so they see the same request. Anything else goes to the router unchanged.
    """

    def __init__(self, app: ASGIApp, reads: Sequence[HotRead], authorize: Authorize) -> None:
        self.app = app
        self.authorize = authorize
        self.reads = {read.prefix: read for read in reads}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            path: str = scope["path"]
            prefix, _, id = path.rpartition("/")
            read = self.reads.get(prefix + "/")
            if read is not None and id:
                query = self._query(scope["query_string"], read)
                if query is not None:
                    await self._answer(read, id, *query, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    def _query(query: bytes, read: HotRead) -> tuple[dict[str, bool], str | None] | None:
        """The flags' values (False when absent) and the host named (None: the default),
        or None for a query the router should read (another parameter, one given
        twice, a word pydantic reads, a host name the pattern refuses)."""
        flags = dict.fromkeys(read.flags, False)
        host: str | None = None
        if not query:
            return flags, host
        seen: set[bytes] = set()
        for pair in query.split(b"&"):
            key, eq, value = pair.partition(b"=")
            if key in seen:
                return None
            seen.add(key)
            if key == b"host" and read.takes_host:
                if not _HOST_NAME.fullmatch(value):
                    return None
                host = value.decode("ascii")
                continue
            word = _BOOL_WORDS.get(value) if eq else None
            if word is None or key.decode("latin-1") not in flags:
                return None
            flags[key.decode("latin-1")] = word
        return flags, host

    async def _answer(
        self,
        read: HotRead,
        id: str,
        flags: Flags,
        host: str | None,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        scope["route"] = read.route
        scope["path_params"] = {"id": id}
        request = Request(scope, receive)
        try:
            await self.authorize(request)
            on = scope["app"].state.hosts.get(host)
            response = await read.answer(on, id, flags)
        except errors.ProblemError as exc:
            response = errors.problem_response(request, exc)
        await response(scope, receive, send)
