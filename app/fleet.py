"""All hosts at once: `host=*` (or `host` repeated) on lists, gathered here.

A list route asks each host the same thing, at once, each within
`MOORAGE_HOST_FANOUT_TIMEOUT`; a host that is known down, disabled, slow or failing
is skipped and named in `Moorage-Unavailable-Hosts`; the answer is 503 only when
no host answered. A single host (no `host`, or one name) is the route's answer as
before, its errors included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar

import orjson
from fastapi import Depends, Query, Response
from fastapi.requests import HTTPConnection
from pydantic import StringConstraints

from app import errors
from app.engine import Engine
from app.hosts import Host, HostChange, HostRegistry
from app.security import Identity
from app.targets import HOST_NAME_PATTERN

T = TypeVar("T")

log = logging.getLogger("moorage.fleet")

UNAVAILABLE_HEADER = "Moorage-Unavailable-Hosts"
ALL = "*"

HostOrAll = Annotated[str, StringConstraints(pattern=rf"^(\*|{HOST_NAME_PATTERN.strip('^$')})$")]
HostsQuery = Annotated[
    list[HostOrAll] | None,
    Query(
        description="The host (engine) to ask (GET /v1/hosts); `*` or repeated: several "
        "at once, each item then says its `host`, and the hosts that could not answer "
        f"are named in `{UNAVAILABLE_HEADER}`. Default: the default host",
    ),
]

# The 200 of a list that may gather from several hosts (OpenAPI).
FANOUT_200: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            UNAVAILABLE_HEADER: {
                "description": "With `host=*` or several `host`: the hosts skipped (down, "
                "disabled, too slow or failing), comma-separated",
                "schema": {"type": "string"},
            }
        }
    }
}


class OnHost(Protocol):
    """An item of a list: it says which host it is on."""

    host: str | None


Item = TypeVar("Item", bound=OnHost)


def _on(host: Host, items: list[Item]) -> list[Item]:
    for item in items:
        item.host = host.name
    return items


def may_use(conn: HTTPConnection, name: str) -> bool:
    """Whether the caller's token may use this host (`hosts = [globs]`; none: all)."""
    identity: Identity | None = getattr(conn.state, "identity", None)
    return identity is None or identity.may_use_host(name)


@dataclass
class Fleet:
    """The hosts a request names: one (`single`), or several to gather from."""

    hosts: list[Host]
    single: bool
    response: Response
    timeout: float

    async def gather(self, ask: Callable[[Engine], Awaitable[list[Item]]]) -> list[Item]:
        """`ask(engine)` of every host; the items of those that answered, in host order,
        each given its `host`. One host: its answer (or its error) as it is."""
        if self.single:
            host = self.hosts[0]
            host.check()
            return _on(host, await ask(host.engine))
        results = await self._each(lambda host: ask(host.engine))
        out: list[Item] = []
        for host, result in zip(self.hosts, results, strict=True):
            if result is not None:
                out.extend(_on(host, result))
        return out

    async def gather_parts(
        self, ask: Callable[[Host], Awaitable[T]], *, ask_down: bool = False
    ) -> list[T]:
        """`ask(host)` of every host: the answers of those that answered, in host order
        (the others named in the header; 503 when none answered). `ask_down`: ask the
        hosts known down too (a `stale=true` read answers from their last state)."""
        results = await self._each(ask, ask_down=ask_down)
        return [r for r in results if r is not None]

    async def _each(
        self, ask: Callable[[Host], Awaitable[T]], *, ask_down: bool = False
    ) -> list[T | None]:
        if not self.hosts:
            return []  # `*` and a token that may use no host

        async def one(host: Host) -> T | None:
            if host.state == "disabled" or (host.state == "down" and not ask_down):
                return None  # known down: no connect spent on it
            try:
                async with asyncio.timeout(self.timeout):
                    return await ask(host)
            except (errors.EngineUnavailable, errors.EngineError, errors.Timeout, TimeoutError):
                return None

        results = await asyncio.gather(*(one(h) for h in self.hosts))
        skipped = [h.name for h, r in zip(self.hosts, results, strict=True) if r is None]
        if skipped:
            self.response.headers[UNAVAILABLE_HEADER] = ",".join(skipped)
        if len(skipped) == len(self.hosts):
            raise errors.HostUnavailable(
                f"No host answered: {', '.join(skipped)}",
                retry_after=self.hosts[0].settings.engine_retry_after,
                hosts=skipped,
            )
        return results


def resolve(conn: HTTPConnection, names: list[str] | None) -> tuple[list[Host], bool]:
    """The hosts named (`*`: all the caller may use) and whether it is just one named
    (or the default) host."""
    registry: HostRegistry = conn.app.state.hosts
    if not names:
        return [registry.default], True
    if len(names) == 1 and names[0] != ALL:
        return [registry.get(names[0])], True
    chosen: dict[str, Host] = {}
    for name in names:
        if name == ALL:
            chosen.update((h.name, h) for h in registry.all() if may_use(conn, h.name))
        else:
            host = registry.get(name)
            chosen[host.name] = host
    return list(chosen.values()), False


def timeout(conn: HTTPConnection) -> float:
    """How long one host may take in a fan-out (MOORAGE_HOST_FANOUT_TIMEOUT)."""
    value: float = conn.app.state.settings.host_fanout_timeout
    return value


async def get_fleet(conn: HTTPConnection, response: Response, host: HostsQuery = None) -> Fleet:
    hosts, single = resolve(conn, host)
    return Fleet(hosts, single, response, timeout(conn))


FleetDep = Annotated[Fleet, Depends(get_fleet)]


# ---------------------------------------------------------------------------
# Streams of several hosts: `host=*` on /v1/events, /v1/health/stream, /v1/stats/stream
#
# Each host's own stream (the one `host=<name>` gives) runs as it is; their events are
# merged in arrival order, each event's `data` given its `host`, and each event's id
# rewritten to the position of EVERY host at that point:
#
#     id: local:1764523623123456789,edge-1:1764523620000000000-2
#
# (`<host>:<that host's own id>`, comma-separated; host names hold neither `:` nor
# `,`). Every host has a position from the first event on (a fresh stream starts each
# at its newest), so a reconnect with that id resumes each host right after its own
# position: no host repeats or skips an event, whatever the others did. A host the
# id does not name (added since) starts as a fresh stream would. A host going
# down or coming back is `event: host` `{host, state, previous, error, time}`; the
# stream goes on with the others, and takes the host up again when it is back.

Part = Callable[[Host, str | None], AsyncIterator[bytes]]


def parse_positions(value: str, names: set[str]) -> dict[str, str]:
    """A fan-out stream's id: each host's position (422 for an id of another shape)."""
    out: dict[str, str] = {}
    for piece in value.split(","):
        name, sep, pos = piece.partition(":")
        if not sep or not pos or not name:
            raise errors.ValidationFailed.field(
                ["query", "last_event_id"],
                f"{value[:80]!r} is not an id of a stream of several hosts (`host:id,host:id`)",
            )
        if name in names:
            out[name] = pos
    return out


def _id(positions: dict[str, str]) -> bytes:
    return ",".join(f"{n}:{p}" for n, p in positions.items()).encode()


def _frames(chunk: bytes) -> list[bytes]:
    return [f for f in chunk.split(b"\n\n") if f.strip()]


def _fields(frame: bytes) -> tuple[bytes | None, bytes | None, bytes | None]:
    """(id, event, data) of one encoded SSE event (app/streams.py `encode`)."""
    id_ = event = data = None
    for line in frame.split(b"\n"):
        key, _, value = line.partition(b": ")
        if key == b"id":
            id_ = value
        elif key == b"event":
            event = value
        elif key == b"data":
            data = value
    return id_, event, data


async def merged(
    hosts: list[Host],
    registry: HostRegistry,
    part: Part,
    resume: dict[str, str],
    queue_size: int,
    head: Callable[[Host], str | None] | None = None,
) -> AsyncIterator[bytes]:
    """The hosts' streams as one (see above). `head(host)`: the position a host not
    resumed starts from (its newest, so that the first id already holds it: a resume
    then continues that host from there even if it had sent nothing). Ends (with the
    last host's `end`) when every host's stream has ended by itself (`until`)."""
    positions: dict[str, str] = {}
    for h in hosts:
        pos = resume.get(h.name) or (head(h) if head is not None else None)
        if pos is not None:
            positions[h.name] = pos
    by_name = {h.name: h for h in hosts}
    queue: asyncio.Queue[tuple[str, bytes | None]] = asyncio.Queue(maxsize=queue_size)
    pumps: dict[str, asyncio.Task[None]] = {}
    ended: dict[str, bytes] = {}  # host → its `end` frame

    async def pump(host: Host) -> None:
        try:
            async for chunk in part(host, positions.get(host.name)):
                for frame in _frames(chunk):
                    await queue.put((host.name, frame))
        except errors.ProblemError as exc:
            log.debug("host %s: stream stopped: %s", host.name, exc.detail)
        except Exception:
            log.exception("host %s: stream failed", host.name)
        await queue.put((host.name, None))

    def start(host: Host) -> None:
        task = pumps.get(host.name)
        if (task is None or task.done()) and host.name not in ended:
            pumps[host.name] = asyncio.create_task(pump(host), name=f"moorage-fanout-{host.name}")

    def host_frame(name: str, state: str, previous: str | None, error: str | None) -> bytes:
        data = {"host": name, "state": state, "previous": previous, "error": error}
        return b"id: " + _id(positions) + b"\nevent: host\ndata: " + orjson.dumps(data) + b"\n\n"

    def rewrite(name: str, frame: bytes) -> bytes | None:
        id_, event, data = _fields(frame)
        if event == b"end":
            ended[name] = frame + b"\n\n"
            return None
        if event == b"error":
            return None  # the host's stream broke: `event: host` tells (from its state)
        if id_ is not None:
            positions[name] = id_.decode()
        if data is not None and data.startswith(b"{"):
            data = b'{"host":' + orjson.dumps(name) + (b"," if data != b"{}" else b"") + data[1:]
        head = b"id: " + _id(positions) + b"\n" if positions else b""
        kind = b"event: " + event + b"\n" if event is not None else b""
        return head + kind + b"data: " + (data or b"") + b"\n\n"

    with registry.subscribe() as changes:
        pending: list[bytes] = []
        for host in hosts:
            if host.state in ("down", "disabled"):
                pending.append(host_frame(host.name, host.state, None, host.error))
            else:
                start(host)
        if pending:
            yield b"".join(pending)
        change_task: asyncio.Task[HostChange] | None = None
        frame_task: asyncio.Task[tuple[str, bytes | None]] | None = None
        try:
            while True:
                if frame_task is None:
                    frame_task = asyncio.ensure_future(queue.get())
                if change_task is None:
                    change_task = asyncio.ensure_future(changes.get())
                done, _ = await asyncio.wait(
                    {frame_task, change_task}, return_when=asyncio.FIRST_COMPLETED
                )
                out: list[bytes] = []
                if change_task in done:
                    change = change_task.result()
                    change_task = None
                    mine = by_name.get(change.host)
                    if mine is not None and registry.hosts.get(change.host) is mine:
                        out.append(
                            host_frame(mine.name, change.state, change.previous, change.error)
                        )
                        if change.state == "up":
                            start(mine)
                if frame_task in done:
                    items = [frame_task.result()]
                    frame_task = None
                    while not queue.empty() and len(items) < 4096:
                        items.append(queue.get_nowait())
                    for name, frame in items:
                        if frame is None:
                            continue  # that host's stream stopped: started again when up
                        if (rewritten := rewrite(name, frame)) is not None:
                            out.append(rewritten)
                if out:
                    yield b"".join(out)
                if ended and len(ended) == len(hosts):
                    yield next(iter(ended.values()))
                    return
        finally:
            for task in (frame_task, change_task, *pumps.values()):
                if task is not None:
                    task.cancel()
            for task in pumps.values():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
