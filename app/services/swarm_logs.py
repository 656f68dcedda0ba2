"""A service's logs: every task's lines merged in timestamp order, resumable.

The engine's `/services/{id}/logs` (managers only) sends the lines of every task as
they come, unordered across tasks (moby #33673); with `details=1` each carries
`com.docker.swarm.node.id`, `…service.id` and `…task.id`. moorage orders them:

    key    `(ts_ns, task_id, seq)`: the engine's stamp of the line in ns, its task, and
           a sequence among that task's lines of the same stamp. One total order, the
           same on every read of the same lines.
    id     the SSE event id is the key written `<ts_ns>-<task_id>-<seq>`.
    live   each line waits in a reorder buffer for `window` seconds after it arrived,
           then leaves in key order: lines of other tasks that arrive up to `window`
           late still take their place. (A line later than that is sent at once, out
           of order, with the id of the newest line already sent, so that a resume
           neither repeats nor skips what followed.)
    resume `Last-Event-ID` K: the engine is asked from K's second (`since`, inclusive)
           and every line whose key is at or before K is dropped; `tail` is ignored.

History (no follow) is read task by task and sorted (see `history`). `tail` is per task,
as the engine means it. The live stream, shared by its clients, and the tasks read on
their own nodes: app/services/swarm_follow.py.
"""

from __future__ import annotations

import asyncio
import heapq
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app import errors
from app.engine import Engine
from app.models.swarm import ServiceLogLine
from app.services.logs import FrameParser, ts_ns

Key = tuple[int, str, int]
HISTORY_READS = 8  # task log reads at once for one history
_ID = re.compile(r"^(\d{1,20})-([a-z0-9]{1,64})-(\d{1,9})$")
_TASK_KEY = "com.docker.swarm.task.id"
_NODE_KEY = "com.docker.swarm.node.id"


def parse_id(value: str) -> Key:
    """`<ts_ns>-<task_id>-<seq>` → key (422 naming `last_event_id` otherwise)."""
    m = _ID.match(value.strip())
    if not m:
        raise errors.ValidationFailed.field(
            ["query", "last_event_id"],
            f"{value[:80]!r} is not a service log id (<ts_ns>-<task_id>-<seq>)",
        )
    return int(m.group(1)), m.group(2), int(m.group(3))


def format_id(key: Key) -> str:
    return f"{key[0]}-{key[1]}-{key[2]}"


@dataclass(slots=True, order=True)
class RawLine:
    key: Key
    arrived: float = field(compare=False)
    stream: str = field(compare=False)
    ts: str = field(compare=False)
    node_id: str = field(compare=False)
    text: str = field(compare=False)


class LineSplitter:
    """Engine bytes → `RawLine`s: frames (or raw text with a TTY), whole lines, then
    `<ts> <details> <text>`; each gets its key (the sequence counted per task)."""

    def __init__(self, tty: bool = False, task_id: str = "", node_id: str = "") -> None:
        # A container's own logs (read on the task's node) carry no swarm details: the
        # task and node are the container's, given here.
        self._task, self._node = task_id, node_id
        self._frames = FrameParser(tty=tty)
        self._partial: dict[str, bytes] = {}
        self._last: dict[str, tuple[int, int]] = {}  # task → (ts_ns, seq) of its last line

    def feed(self, chunk: bytes, now: float) -> list[RawLine]:
        out: list[RawLine] = []
        for stream, payload in self._frames.feed(chunk):
            data = self._partial.pop(stream, b"") + payload
            *lines, rest = data.split(b"\n")
            if rest:
                self._partial[stream] = rest
            for raw in lines:
                line = self._parse(stream, raw, now)
                if line is not None:
                    out.append(line)
        return out

    def flush(self, now: float) -> list[RawLine]:
        out = [self._parse(s, raw, now) for s, raw in self._partial.items()]
        self._partial.clear()
        return [line for line in out if line is not None]

    def _parse(self, stream: str, raw: bytes, now: float) -> RawLine | None:
        ts, _, rest = raw.partition(b" ")
        details, _, text = rest.partition(b" ")
        try:
            ns = ts_ns(ts)
        except ValueError:
            return None  # not a stamped line (the engine always stamps with timestamps=1)
        attrs = dict(
            item.split("=", 1)
            for item in details.decode("utf-8", "replace").split(",")
            if "=" in item
        )
        task = attrs.get(_TASK_KEY, self._task)
        last_ns, last_seq = self._last.get(task, (-1, -1))
        seq = last_seq + 1 if last_ns == ns else 0
        self._last[task] = (ns, seq)
        return RawLine(
            key=(ns, task, seq),
            arrived=now,
            stream=stream,
            ts=ts.decode(),
            node_id=attrs.get(_NODE_KEY, self._node),
            text=text.decode("utf-8", "replace").removesuffix("\r"),
        )


class Reorder:
    """The reorder buffer of the live stream (see the module's docstring)."""

    def __init__(self, window: float, after: Key | None) -> None:
        self.window = window
        self.resumed = after  # lines at or before it were sent on an earlier connection
        self.after = after  # the newest key sent
        self._heap: list[RawLine] = []

    def add(self, lines: list[RawLine]) -> None:
        for line in lines:
            if self.resumed is None or line.key > self.resumed:
                heapq.heappush(self._heap, line)

    def due(self, now: float) -> list[tuple[RawLine, Key]]:
        """Lines whose wait is over, in key order, each with the id it is sent with."""
        out: list[tuple[RawLine, Key]] = []
        heap = self._heap
        while heap and heap[0].arrived + self.window <= now:
            out.append(self._send(heapq.heappop(heap)))
        return out

    def drain(self) -> list[tuple[RawLine, Key]]:
        return [self._send(heapq.heappop(self._heap)) for _ in range(len(self._heap))]

    def _send(self, line: RawLine) -> tuple[RawLine, Key]:
        if self.after is None or line.key > self.after:
            self.after = line.key
        return line, self.after

    def next_due(self) -> float | None:
        return self._heap[0].arrived + self.window if self._heap else None


TaskInfo = tuple[int | None, str | None]  # slot, container id
TaskLookup = Callable[[str], Awaitable[TaskInfo]]


def task_lookup(engine: Engine, service_id: str | None) -> TaskLookup:
    """A task's slot and container id, cached; an unknown task refreshes the cache
    from one tasks call (the service's, when there is one)."""
    cache: dict[str, TaskInfo] = {}

    async def lookup(task_id: str) -> TaskInfo:
        if task_id not in cache:
            flt = {"service": [service_id]} if service_id else {"id": [task_id]}
            tasks: list[dict[str, Any]] = await engine.json("GET", "tasks", params={"filters": flt})
            for t in tasks or []:
                container = ((t.get("Status") or {}).get("ContainerStatus") or {}).get(
                    "ContainerID"
                )
                cache[t["ID"]] = (t.get("Slot"), container or None)
            cache.setdefault(task_id, (None, None))
        return cache[task_id]

    return lookup


async def record(line: RawLine, key: Key, lookup: TaskLookup) -> ServiceLogLine:
    slot, container = await lookup(line.key[1])
    return ServiceLogLine(
        id=format_id(key),
        task_id=line.key[1],
        slot=slot,
        node_id=line.node_id or None,
        container_id=container,
        stream="stderr" if line.stream == "stderr" else "stdout",
        ts=line.ts,
        line=line.text,
    )


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Which lines of a service's or task's logs, checked once (by the routes'
    dependency): `since`/`until` in the engine's form (`sec.nnnnnnnnn`), and for a
    follow `since_ns`, which filters the lines its shared follow already holds."""

    tail: str = "all"
    since: str | None = None
    until: str | None = None
    stdout: bool = True
    stderr: bool = True
    since_ns: int | None = None

    def streams(self) -> set[str]:
        return {s for s, on in (("stdout", self.stdout), ("stderr", self.stderr)) if on}

    def history_params(self) -> dict[str, Any]:
        """The engine's query for the lines up to now (a follow reads its own: see
        app/services/swarm_follow.py)."""
        params: dict[str, Any] = {
            "stdout": self.stdout,
            "stderr": self.stderr,
            "timestamps": True,
            "details": True,
            "follow": False,
            "tail": self.tail,
        }
        if self.since is not None:
            params["since"] = self.since
        if self.until is not None:
            params["until"] = self.until
        return params


NodeEngines = Mapping[str, Engine]  # swarm node id → the engine of the host that is that node


def task_source(
    engine: Engine, task: Mapping[str, Any], nodes: NodeEngines
) -> tuple[Engine, str, LineSplitter]:
    """Where a task's lines are read: its container's own logs on its node when that
    node is a configured host (the manager's log broker can lose a node's lines, moby
    #33183), else the task's logs through the manager."""
    node, container = str(task.get("NodeID") or ""), _container_id(task)
    if container and node in nodes:
        return (
            nodes[node],
            f"containers/{container}/logs",
            LineSplitter(task_id=task["ID"], node_id=node),
        )
    return engine, f"tasks/{task['ID']}/logs", LineSplitter()


async def history(
    engine: Engine,
    tasks: list[dict[str, Any]],
    params: dict[str, Any],
    nodes: NodeEngines | None = None,
) -> list[ServiceLogLine]:
    """Every line asked for of these tasks, merged in key order (`nodes`: see
    `task_source`).

    Read task by task (`/tasks/{id}/logs`, a few at once), not through
    `/services/{id}/logs`: without `follow` the engine's service logs stall for good
    once a service has logged more than a few thousand lines (20.10: 18,933 of 20,000
    lines, then nothing), while each task's own logs answer whole."""
    started = [t for t in tasks if _container_id(t)]
    slots: dict[str, TaskInfo] = {t["ID"]: (t.get("Slot"), _container_id(t)) for t in tasks}
    reads = asyncio.Semaphore(HISTORY_READS)

    async def one(task: dict[str, Any]) -> list[RawLine]:
        source, path, splitter = task_source(engine, task, nodes or {})
        lines: list[RawLine] = []
        try:
            async with (
                reads,
                source.request(
                    "GET", path, params=params, long=True, kind="task", ref=task["ID"]
                ) as resp,
            ):
                async for chunk in resp.content.iter_any():
                    lines.extend(splitter.feed(chunk, 0.0))
        except errors.NotFound:
            if source is engine:
                raise
            # An old task whose container its node has removed: its lines went with it
            # (the manager's path has nothing of it either); the other tasks' remain.
            return []
        lines.extend(splitter.flush(0.0))
        return lines

    per_task = await asyncio.gather(*(one(t) for t in started))
    merged = sorted(line for lines in per_task for line in lines)

    async def lookup(task_id: str) -> TaskInfo:
        return slots.get(task_id, (None, None))

    return [await record(line, line.key, lookup) for line in merged]


def _container_id(task: Mapping[str, Any]) -> str | None:
    status = (task.get("Status") or {}).get("ContainerStatus") or {}
    return status.get("ContainerID") or None
