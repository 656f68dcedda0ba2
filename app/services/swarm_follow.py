"""A service's live logs, one follow shared by every client (a hub), each resumed
exactly; tasks on nodes that are configured hosts followed on those hosts.

    hub       one per service on the manager's host (`HUB_KIND`, the service id): the
              merge of `swarm_logs` (reorder window, keys, ids) over its sources, from
              `LOOK_BACK_S` before it opened. Each line is published once, encoded
              once; the newest `stream_logs_buffer_bytes` of them are kept (`Buffer`).
    sources   the manager's `/services/{id}/logs` for every node; and, for each swarm
              node that is also a configured host that is up (matched by the node id
              of its engine's `GET /info`, `Host.swarm`), the container of each of the
              service's tasks there, followed on that host (a container that starts
              later too, from the host's events). The manager's lines of those nodes are
              dropped: the node's own engine holds the log the broker relays, and the
              broker can lose a node's lines for good (moby #33183; here: a worker cut
              off from the manager while its engine still answers). When such a host's
              follow fails the hub fails: clients reconnect with Last-Event-ID and the
              next hub takes the manager's path for that node.
    join      a client takes the buffer and the hub's live lines from the same instant
              (no await between). A resume whose line the buffer holds continues right
              after it by place (the last event sent with that id). Otherwise the
              history comes from the engines (`swarm_logs.history`, by task) up to the
              buffer's floor — every line stamped after the floor is in the buffer —
              and the buffer's lines after the floor follow: no line twice, none lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.engine import Engine, translate_docker_error
from app.services.events import Subscription
from app.services.logs import ns_to_engine
from app.services.swarm_logs import (
    Key,
    LineSplitter,
    LogQuery,
    RawLine,
    Reorder,
    history,
    parse_id,
    record,
    task_lookup,
)
from app.streams import HubRegistry, Item, Producer, Subscriber, encode

if TYPE_CHECKING:
    from app.hosts import Host, HostRegistry
    from app.streams import Hub

HUB_KIND = "service_logs"
LOOK_BACK_S = 1  # a hub's follow starts this long before it opens (whole seconds)
SEAM_S = 10  # history lines this close below the floor are remembered to drop repeats
_SERVICE_KEY = "com.docker.swarm.service.id"
_TASK_KEY = "com.docker.swarm.task.id"
_PIECE = 256  # history lines per written chunk


@dataclass(eq=False)
class Buffer:
    """The hub's newest lines in the order sent. `floor_ns`: every line stamped after
    it that the hub has sent is here (the follow's start, then the newest stamp of any
    line dropped for room)."""

    limit: int
    floor_ns: int
    items: deque[Item] = field(default_factory=deque)
    size: int = 0

    def add(self, item: Item) -> None:
        self.items.append(item)
        self.size += len(item.data)
        while self.size > self.limit and len(self.items) > 1:
            old = self.items.popleft()
            self.size -= len(old.data)
            self.floor_ns = max(self.floor_ns, old.key[0])


def node_hosts(registry: HostRegistry, manager: Host) -> dict[str, Host]:
    """Swarm node id → the configured host whose engine is that node (up, and not the
    manager's own host: its tasks' lines reach the broker locally)."""
    out: dict[str, Host] = {}
    for host in registry.all():
        if host is manager or host.swarm is None or host.state != "up":
            continue
        if manager.swarm is not None and host.swarm.node_id == manager.swarm.node_id:
            continue  # the manager's engine under another name
        out[host.swarm.node_id] = host
    return out


def _params(start_ns: int) -> dict[str, Any]:
    return {
        "stdout": True,
        "stderr": True,
        "timestamps": True,
        "details": True,
        "follow": True,
        "tail": "all",
        "since": ns_to_engine(start_ns),
    }


@dataclass(eq=False)
class _Source:
    splitter: LineSplitter
    main: bool = False  # the manager's service logs: the stream ends with it


def producer(
    manager: Host, registry: HostRegistry, service_id: str, window: float, buffer_bytes: int
) -> Producer:
    async def run(hub: Hub) -> None:
        now = time.time_ns()
        start_ns = now - now % 1_000_000_000 - LOOK_BACK_S * 1_000_000_000
        buffer = Buffer(buffer_bytes, start_ns)
        nodes = node_hosts(registry, manager)
        hub.state["buffer"] = buffer
        hub.state["nodes"] = nodes
        hub.ready.set()
        await _merge(hub, buffer, manager, nodes, service_id, window, start_ns)

    return run


async def _merge(
    hub: Hub,
    buffer: Buffer,
    manager: Host,
    nodes: Mapping[str, Host],
    service_id: str,
    window: float,
    start_ns: int,
) -> None:
    engine = manager.engine
    lookup = task_lookup(engine, service_id)
    reorder = Reorder(window, None)
    chunks: asyncio.Queue[tuple[_Source, bytes | None]] = asyncio.Queue(maxsize=64)
    failure: list[BaseException] = []
    removed = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()
    subs: list[tuple[Host, Subscription]] = []
    followed: set[str] = set()
    params = _params(start_ns)
    stop = _Source(LineSplitter(), main=True)  # queued to end the merge (a failure, removal)

    def spawn(coro: Any) -> None:
        task = asyncio.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def read(source: _Source, on: Engine, path: str, kind: Any, ref: str) -> None:
        try:
            async with on.request("GET", path, params=params, long=True, kind=kind, ref=ref) as r:
                async for chunk in r.content.iter_any():
                    await chunks.put((source, chunk))
        except asyncio.CancelledError:
            raise  # the merge is over: nothing more to queue (it could wait for good)
        except Exception as exc:  # handed to the stream: it says so in `event: error`
            failure.append(translate_docker_error(exc, kind, ref))
            await chunks.put((stop, None))
        await chunks.put((source, None))

    def follow_container(host: Host, node_id: str, cid: str, task_id: str | None) -> None:
        if cid in followed or not task_id:
            return
        followed.add(cid)
        source = _Source(LineSplitter(task_id=task_id, node_id=node_id))
        spawn(read(source, host.engine, f"containers/{cid}/logs", "container", cid))

    async def watch_node(host: Host, node_id: str, sub: Subscription) -> None:
        # Subscribed before the list: a container that starts in between is not missed.
        flt = {"label": [f"{_SERVICE_KEY}={service_id}"]}
        try:
            rows = await host.engine.json(
                "GET", "containers/json", params={"all": True, "filters": flt}
            )
        except Exception as exc:
            failure.append(translate_docker_error(exc))
            await chunks.put((stop, None))
            return
        for row in rows or []:
            follow_container(host, node_id, row["Id"], (row.get("Labels") or {}).get(_TASK_KEY))
        while True:
            event = await sub.get()
            actor = event.get("Actor") or {}
            attrs = actor.get("Attributes") or {}
            if (
                event.get("Type") == "container"
                and event.get("Action") == "start"
                and attrs.get(_SERVICE_KEY) == service_id
            ):
                follow_container(host, node_id, actor.get("ID", ""), attrs.get(_TASK_KEY))

    async def watch_removal(sub: Subscription) -> None:
        while True:
            event = await sub.get()
            actor = event.get("Actor") or {}
            if (
                event.get("Type") == "service"
                and event.get("Action") == "remove"
                and actor.get("ID") == service_id
            ):
                removed.set()
                await chunks.put((stop, None))
                return

    def take(source: _Source, lines: list[RawLine]) -> None:
        if source.main:  # the broker's lines of nodes followed on their own hosts: dropped
            lines = [line for line in lines if line.node_id not in nodes]
        reorder.add(lines)

    bus_sub = manager.events.open(maxsize=1_000)
    try:
        spawn(watch_removal(bus_sub))
        for node_id, host in nodes.items():
            sub = host.events.open(maxsize=1_000)
            subs.append((host, sub))
            spawn(watch_node(host, node_id, sub))
        main = _Source(LineSplitter(), main=True)
        spawn(read(main, engine, f"services/{service_id}/logs", "service", service_id))
        ended = False
        while not ended:
            due_at = reorder.next_due()
            timeout = None if due_at is None else max(0.0, due_at - time.monotonic())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    got: tuple[_Source, bytes | None] | None = await chunks.get()
                while got is not None:  # everything already queued, before what is due
                    source, chunk = got
                    now = time.monotonic()
                    if chunk is None:
                        take(source, source.splitter.flush(now))
                        ended = ended or source.main
                    else:
                        take(source, source.splitter.feed(chunk, now))
                    got = None if ended or chunks.empty() else chunks.get_nowait()
            out = reorder.drain() if ended else reorder.due(time.monotonic())
            for line, key in out:
                rec = await record(line, key, lookup)
                data = encode("log", rec.model_dump(exclude={"id"}), id=rec.id)
                item = Item(key=line.key, data=data, meta=rec.stream)
                buffer.add(item)
                hub.publish(item)
        if failure and not removed.is_set():
            raise failure[0]
        end = {"reason": "removed" if removed.is_set() else "ended"}
        hub.publish(Item(key=None, data=encode("end", end), last=True))
    finally:
        manager.events.subscribers.discard(bus_sub)
        for host, sub in subs:
            host.events.subscribers.discard(sub)
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def follow(
    hubs: HubRegistry,
    hub_producer: Producer,
    manager: Engine,
    service_id: str,
    query: LogQuery,
    after: Key | None,
    resume_id: str | None,
    queue_size: int,
) -> AsyncIterator[bytes]:
    """One client's events: its history (tail / since / resume), then the hub's live
    lines, then `end` (see the module's docstring)."""
    wanted = query.streams()
    sub = Subscriber(maxsize=queue_size)
    async with hubs.subscribe(HUB_KIND, service_id, hub_producer, sub) as hub:
        await hub.ready.wait()
        if hub.failure is not None:
            raise hub.failure
        buffer: Buffer = hub.state["buffer"]
        # The buffer and the live lines from the same instant: what the subscriber was
        # sent before now is in the buffer too.
        held = list(buffer.items)
        floor = buffer.floor_ns
        sub.queue.clear()
        sub.pending = 0

        def ok(it: Item) -> bool:
            return it.meta in wanted

        by_place = False  # the live lines follow the resumed one by place: send them all
        seam: set[Key] = set()  # history lines just below the floor (see `live`)
        if after is not None and resume_id is not None and after[0] > floor:
            hubs.histories[f"{HUB_KIND}-buffer"] += 1
            found = max((i for i, it in enumerate(held) if _item_id(it) == resume_id), default=None)
            if found is not None:
                by_place = True
                rest = held[found + 1 :]
            else:
                rest = [it for it in held if it.key > after]
            yield b"".join(it.data for it in rest if ok(it))
        elif after is None and query.tail == "0":
            hubs.histories[f"{HUB_KIND}-none"] += 1
            floor = time.time_ns()  # lines stamped from now on
        else:
            hubs.histories[f"{HUB_KIND}-engine"] += 1
            nodes: Mapping[str, Host] = hub.state["nodes"]
            async for piece in _history(manager, service_id, query, after, floor, nodes, seam):
                yield piece
            since_ns = query.since_ns if after is None else None
            yield b"".join(
                it.data
                for it in held
                if ok(it)
                and it.key[0] > floor
                and (since_ns is None or it.key[0] >= since_ns)
                and (after is None or it.key > after)
            )
        async for items in sub.batches():
            out: list[bytes] = []
            for it in items:
                if it.last:
                    out.append(it.data)
                elif not ok(it):
                    continue
                elif by_place or _live(it, after, floor, seam):
                    out.append(it.data)
            if out:
                yield b"".join(out)
        if hub.failure is not None:
            raise hub.failure


def _live(it: Item, after: Key | None, floor: int, seam: set[Key]) -> bool:
    """Whether a live line is new to this subscriber: not at or before its resume
    point, and not a line the history gave (one stamped at or below the floor that
    reached the hub late)."""
    key: Key = it.key
    if after is not None and key <= after:
        return False
    return key[0] > floor or (key[0] > floor - SEAM_S * 1_000_000_000 and key not in seam)


def _item_id(it: Item) -> str:
    head = it.data[4 : it.data.index(b"\n")]  # b"id: <id>\n…"
    return head.decode()


async def _history(
    engine: Engine,
    service_id: str,
    query: LogQuery,
    after: Key | None,
    floor: int,
    nodes: Mapping[str, Host],
    seam: set[Key],
) -> AsyncIterator[bytes]:
    """The lines up to the floor, from the engines, after the resume point."""
    params: dict[str, Any] = {
        "stdout": query.stdout,
        "stderr": query.stderr,
        "timestamps": True,
        "details": True,
        "follow": False,
        "tail": "all" if after is not None else query.tail,
    }
    if after is not None:  # from the resumed line's second on (tail would cut it)
        params["since"] = ns_to_engine(after[0] - after[0] % 1_000_000_000)
    elif query.since_ns is not None:
        params["since"] = ns_to_engine(query.since_ns)
    if params["tail"] == "all":  # (with a tail the engine would count back from until)
        params["until"] = ns_to_engine(floor)
    tasks: list[dict[str, Any]] = await engine.json(
        "GET", "tasks", params={"filters": {"service": [service_id]}}
    )
    lines = await history(
        engine, tasks or [], params, {node: host.engine for node, host in nodes.items()}
    )
    low = floor - SEAM_S * 1_000_000_000
    out: list[bytes] = []
    for line in lines:
        key = parse_id(line.id)
        if key[0] > floor or (after is not None and key <= after):
            continue
        if key[0] > low:
            seam.add(key)
        out.append(encode("log", line.model_dump(exclude={"id"}), id=line.id))
        if len(out) >= _PIECE:
            yield b"".join(out)
            out = []
    if out:
        yield b"".join(out)
