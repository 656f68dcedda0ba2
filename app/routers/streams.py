"""Server-Sent Event routes: logs, health, events, stats.

Every stream sends its headers at once, a `retry:` hint first, a `: ping` comment
every `MOORAGE_SSE_PING_INTERVAL` s, and ends with `event: end` after
`MOORAGE_SSE_MAX_LIFETIME` s (`{"reason": "max-lifetime"}`: reconnect and resume
with `Last-Event-ID`). A failure is `event: error` with a problem document; a client
that does not keep up (more than `MOORAGE_SSE_QUEUE_SIZE` events behind) gets
`event: error` with code `slow-consumer` and is closed.

When the server shuts down (SIGTERM) every open stream ends with `event: end`
`{"reason": "shutdown"}` and closes: reconnect (to the next instance) and resume.

When the engine goes away, the logs, health and stats streams end with `event: error`
(problem `engine-unavailable`) after a fresh `retry:` hint: reconnect with
`Last-Event-ID` once the engine is back. `/v1/events` instead stays open: moorage's
event reader reconnects by itself (within about 2 s of the engine's return), replays
what the engine still has, and sends `event: gap` where events were lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sse_starlette.sse import EventSourceResponse

from app import errors, fleet
from app.engine import EngineDep
from app.fleet import HostsQuery
from app.hosts import Host, HostDep
from app.models.common import check_ref, label_filters
from app.models.events import EngineEvent, HealthEvent, LogEvent, StreamGap
from app.openapi import ENGINE_EVENT_TYPES
from app.services import live
from app.services.events import EventBus, EventFilter, event_stream
from app.services.health_journal import HealthJournal, Position, format_id, parse_id
from app.services.logs import parse_line_id
from app.services.stats import StatsSample
from app.settings import Settings
from app.state import ContainerState, ContainerStateDep
from app.streams import HubRegistry, resume_point, sse_doc, sse_response

router = APIRouter(tags=["streams"])


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_hubs(host: HostDep) -> HubRegistry:
    """The stream hubs of the request's host."""
    return host.hubs


async def get_bus(host: HostDep) -> EventBus:
    """The event reader of the request's host."""
    return host.events


async def get_health_journal(host: HostDep) -> HealthJournal:
    """The health journal of the request's host."""
    return host.health


SettingsDep = Annotated[Settings, Depends(get_settings)]
HealthJournalDep = Annotated[HealthJournal, Depends(get_health_journal)]
HubsDep = Annotated[HubRegistry, Depends(get_hubs)]
BusDep = Annotated[EventBus, Depends(get_bus)]
LastEventId = Annotated[
    str | None,
    Query(description="Resume after this event id (for clients that cannot send Last-Event-ID)"),
]
Labels = Annotated[list[str] | None, Query(description="`key` or `key=value`, repeatable")]

_LOGS_DOC = """\
retry: 3000

id: 1764523623123456789-0
event: log
data: {"stream": "stdout", "ts": "2025-11-30T17:27:03.123456789Z", "line": "hello"}

event: end
data: {"reason": "exited", "exit_code": 0}
"""
_HEALTH_DOC = """\
id: 1764523623123456789-1
event: health
data: {"container_id": "4f1c8e2a9b7d", "name": "web", "status": "healthy", "previous": "starting", \
"failing_streak": 0, "output": "ok\\n", "ts": "2025-11-30T17:27:03.1Z"}
"""
_EVENTS_DOC = """\
id: 1764523623123456789
event: container
data: {"type": "container", "action": "start", "id": "4f1c8e2a9b7d", "name": "web", \
"attributes": {"image": "busybox", "name": "web"}, "time": "2025-11-30T17:27:03.123456789Z", \
"time_nano": 1764523623123456789}

event: gap
data: {"after": "1764520000000000000", "first_available": "1764523600000000000", \
"detail": "Events after this id were lost: the engine restarted"}
"""
_STATS_DOC = """\
id: 1764523623123456789
event: stats
data: {"container_id": "4f1c8e2a9b7d", "name": "web", "read": "2025-11-30T17:27:03.1Z", \
"cpu_percent": 0.5, "online_cpus": 2, "memory_usage": 1048576, "memory_limit": 2147483648, \
"memory_percent": 0.05, "network_rx_bytes": 1200, "network_tx_bytes": 800, \
"block_read_bytes": 0, "block_write_bytes": 4096, "pids": 3}
"""


async def _container(
    engine: EngineDep, id: str, state: ContainerState | None = None
) -> dict[str, Any]:
    """The container's inspect document: from the state, else one engine call shared by
    every subscriber asking at once (a burst of subscribers is one call, not N)."""
    check_ref(id)
    if state is not None and (doc := state.get(id)) is not None:
        return doc

    async def read() -> dict[str, Any]:
        found: dict[str, Any] = await engine.json(
            "GET", f"containers/{id}/json", kind="container", ref=id
        )
        return found

    return await engine.shared(f"inspect:{id}", read)


def _log_view(doc: dict[str, Any]) -> dict[str, Any]:
    """What a log stream reads of the inspect document. The stream holds it for its
    whole life: the full document (about 13 KB parsed) was the biggest part of an
    idle subscriber's memory."""
    config, state = doc.get("Config") or {}, doc.get("State") or {}
    return {
        "Id": doc["Id"],
        "Name": doc.get("Name"),
        "Created": doc.get("Created"),
        "Config": {"Tty": config.get("Tty"), "Labels": config.get("Labels")},
        "State": {k: state.get(k) for k in ("Status", "Running", "ExitCode")},
    }


@router.get(
    "/v1/containers/{id}/logs/stream",
    response_class=EventSourceResponse,
    responses={
        **sse_doc(
            "`event: log` per line, id `<ts_ns>-<seq>`; `event: end` "
            '`{"reason": "exited", "exit_code": N}` or `{"reason": "removed"}`',
            _LOGS_DOC,
            events={"log": LogEvent},
        ),
        **errors.problem_responses(errors.ContainerNotFound),
    },
)
async def containers_logs_stream(
    id: str,
    request: Request,
    engine: EngineDep,
    state: ContainerStateDep,
    bus: BusDep,
    hubs: HubsDep,
    settings: SettingsDep,
    tail: Annotated[str, Query(pattern=r"^(all|\d+)$")] = "all",
    since: str | None = None,
    until: str | None = None,
    timestamps: bool = True,
    stdout: bool = True,
    stderr: bool = True,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    """Follow a container's logs (SSE), resumable with Last-Event-ID.

    One event per line, stdout and stderr kept apart; id is the line's engine
    timestamp (ns) and a sequence among equal stamps. A resume continues right
    after that line (`tail`/`since` are then ignored). With `until`, the history up to
    then and `end` `{"reason": "until"}`. Viewers of one container share one engine
    connection. Lines always carry `ts`; `timestamps` is accepted for parity with
    the history route.
    """
    if not stdout and not stderr:
        raise errors.ValidationFailed.field(["query", "stdout"], "ask for stdout or stderr")
    resume = resume_point(request, last_event_id)
    doc = await _container(engine, id, state)
    query = live.LogQuery(tail, since, until, timestamps, stdout, stderr)
    body = live.logs_events(
        engine,
        hubs,
        _log_view(doc),
        query,
        parse_line_id(resume) if resume else None,
        settings.sse_queue_size,
        settings.stream_logs_buffer_bytes,
        settings.stream_logs_look_back,
    )
    return sse_response(body, settings, request, engine_lost=bus.watch_disconnect)


@router.get(
    "/v1/containers/{id}/health/stream",
    response_class=EventSourceResponse,
    responses={
        **sse_doc(
            "`event: health` per change of status (first: the current status); "
            '`event: end` `{"reason": "removed"}`',
            _HEALTH_DOC,
            events={"health": HealthEvent},
        ),
        **errors.problem_responses(errors.ContainerNotFound),
    },
)
async def containers_health_stream(
    id: str,
    request: Request,
    engine: EngineDep,
    state: ContainerStateDep,
    bus: BusDep,
    journal: HealthJournalDep,
    settings: SettingsDep,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    """Follow a container's health (SSE): one event per change of status.

    Resumable: with `Last-Event-ID` (or `?last_event_id=`) the stream sends exactly
    the changes after that id, in order, then carries on live. Ids are the engine
    event's time (`<time_nano>-<n>`), the same for every subscriber; the first events
    of a fresh stream carry the id of the newest change moorage had seen. A resume
    from before what moorage remembers (`MOORAGE_HEALTH_JOURNAL_SIZE` changes, since
    it started) gets `event: gap`, then the current status."""
    resume = _health_resume(request, last_event_id)
    doc = await _container(engine, id, state)
    body = live.health_events(engine, journal, doc["Id"], [], resume)
    return sse_response(body, settings, request, engine_lost=bus.watch_disconnect)


@router.get(
    "/v1/health/stream",
    response_class=EventSourceResponse,
    responses={
        **sse_doc(
            "`event: health` per change of status of any container with a health "
            "check (or those with the labels); first the current status of each",
            _HEALTH_DOC,
            events={"health": HealthEvent},
        ),
        **errors.problem_responses(),
    },
)
async def health_stream(
    request: Request,
    settings: SettingsDep,
    label: Labels = None,
    last_event_id: LastEventId = None,
    host: HostsQuery = None,
) -> EventSourceResponse:
    """Follow the health of every container (SSE), optionally by label; `host=*`: of
    every host.

    Resumable with `Last-Event-ID`, as the stream of one container's health (with
    several hosts: an id that holds each host's position, app/fleet.py)."""
    labels = label_filters(label)
    hosts, single = fleet.resolve(request, host)
    if single:
        on = hosts[0]
        on.check()
        resume = _health_resume(request, last_event_id)
        body = live.health_events(on.engine, on.health, None, labels, resume)
        return sse_response(body, settings, request, engine_lost=on.events.watch_disconnect)

    def part(on: Host, pos: str | None) -> AsyncIterator[bytes]:
        resume = parse_id(pos) if pos is not None else None
        return live.health_events(on.engine, on.health, None, labels, resume)

    def head(on: Host) -> str:
        return format_id(on.health.head)

    return _merged(request, settings, hosts, part, last_event_id, head)


def _merged(
    request: Request,
    settings: Settings,
    hosts: list[Host],
    part: fleet.Part,
    last_event_id: str | None,
    head: Callable[[Host], str | None] | None = None,
) -> EventSourceResponse:
    """The stream of several hosts (app/fleet.py `merged`); the hosts down at its
    start named in Moorage-Unavailable-Hosts."""
    resume = resume_point(request, last_event_id)
    names = {h.name for h in hosts}
    positions = fleet.parse_positions(resume, names) if resume is not None else {}
    body = fleet.merged(
        hosts, request.app.state.hosts, part, positions, settings.sse_queue_size, head
    )
    response = sse_response(body, settings, request)
    down = [h.name for h in hosts if h.state in ("down", "disabled")]
    if down:
        response.headers[fleet.UNAVAILABLE_HEADER] = ",".join(down)
    return response


def _health_resume(request: Request, last_event_id: str | None) -> Position | None:
    resume = resume_point(request, last_event_id)
    return parse_id(resume) if resume is not None else None


@router.get(
    "/v1/containers/{id}/stats/stream",
    response_class=EventSourceResponse,
    responses={
        **sse_doc(
            "`event: stats`: the computed sample, as GET …/stats",
            _STATS_DOC,
            events={"stats": StatsSample},
        ),
        **errors.problem_responses(errors.ContainerNotFound),
    },
)
async def containers_stats_stream(
    id: str,
    request: Request,
    engine: EngineDep,
    state: ContainerStateDep,
    bus: BusDep,
    hubs: HubsDep,
    settings: SettingsDep,
) -> EventSourceResponse:
    """Follow a container's resource usage (SSE), about one sample a second."""
    doc = await _container(engine, id, state)
    body = live.stats_events(engine, hubs, doc["Id"], settings.sse_queue_size)
    return sse_response(body, settings, request, engine_lost=bus.watch_disconnect)


@router.get(
    "/v1/stats/stream",
    response_class=EventSourceResponse,
    responses={
        **sse_doc(
            "`event: stats` per running container (or those with the labels) per interval",
            _STATS_DOC,
            events={"stats": StatsSample},
        ),
        **errors.problem_responses(),
    },
)
async def stats_stream(
    request: Request,
    settings: SettingsDep,
    label: Labels = None,
    interval: Annotated[float, Query(ge=1.0, le=300.0, description="seconds")] = 2.0,
    host: HostsQuery = None,
) -> EventSourceResponse:
    """Follow the resource usage of every running container (SSE); `host=*`: on every
    host."""
    labels = label_filters(label)
    hosts, single = fleet.resolve(request, host)
    queue = settings.sse_queue_size

    def part(on: Host, pos: str | None = None) -> AsyncIterator[bytes]:
        return live.all_stats_events(on.engine, on.hubs, labels, interval, queue)

    if single:
        on = hosts[0]
        on.check()
        return sse_response(part(on), settings, request, engine_lost=on.events.watch_disconnect)
    return _merged(request, settings, hosts, part, None)


EventNames = Annotated[
    list[str] | None, Query(max_length=64, description="Id or name (prefix), repeatable")
]


@router.get(
    "/v1/events",
    response_class=EventSourceResponse,
    responses={
        **sse_doc(
            "`event: <type>` per engine event, id `time_nano`. `event: gap` "
            '`{"after", "first_available", "detail"}` wherever events were lost: a '
            "resume from an id older than both the engine's memory (256 events) and "
            "moorage's journal (`MOORAGE_EVENTS_JOURNAL_SIZE`), or an engine restart "
            "(the stream stays open across it; a later resume from before it repeats "
            'the gap). `event: end` `{"reason": "shutdown"}` when moorage stops.',
            _EVENTS_DOC,
            events={**dict.fromkeys(ENGINE_EVENT_TYPES, EngineEvent), "gap": StreamGap},
        ),
        **errors.problem_responses(),
    },
)
async def system_events(
    request: Request,
    settings: SettingsDep,
    type: Annotated[list[str] | None, Query()] = None,
    action: Annotated[
        list[str] | None, Query(description="`health_status` matches any health action")
    ] = None,
    label: Labels = None,
    container: Annotated[list[str] | None, Query()] = None,
    since: Annotated[str | None, Query(description="unix seconds or RFC 3339")] = None,
    until: Annotated[
        str | None,
        Query(description="unix seconds or RFC 3339: the stream ends (`event: end`) then"),
    ] = None,
    image: EventNames = None,
    volume: EventNames = None,
    network: EventNames = None,
    daemon: EventNames = None,
    event: Annotated[list[str] | None, Query(description="As `action` (the engine's name)")] = None,
    scope: Annotated[list[Literal["local", "swarm"]] | None, Query()] = None,
    plugin: EventNames = None,
    node: EventNames = None,
    service: EventNames = None,
    config: EventNames = None,
    secret: EventNames = None,
    last_event_id: LastEventId = None,
    host: HostsQuery = None,
) -> EventSourceResponse:
    """Follow the engine's events (SSE), filtered, resumable by id; `host=*`: of every
    host, each event with its `host`.

    The stream outlives an engine restart: moorage's one event reader reconnects,
    asks the engine to replay from the last event it saw, and when the engine cannot
    (it restarted, or forgot) the stream sends `event: gap` with `after` (the last
    id before the loss) and `first_available` (the first id after it), then carries
    on. No event from after the engine's return is missed. A resume with
    `Last-Event-ID` from before a gap is told about it again, in order.
    """
    match = EventFilter(
        types=frozenset(type or ()),
        actions=frozenset([*(action or ()), *(event or ())]),
        labels=tuple(label_filters(label)),
        containers=frozenset(container or ()),
        images=frozenset(image or ()),
        scopes=frozenset(scope or ()),
        fuzzy=tuple(
            frozenset(values)
            for values in (volume, network, daemon, plugin, node, service, config, secret)
            if values
        ),
    )
    until_ns = live.time_ns(until) if until is not None else None
    start = live.time_ns(since) - 1 if since is not None else None
    if until_ns is not None and start is not None and until_ns <= start:
        raise errors.ValidationFailed.field(["query", "until"], "until must be after since")
    hosts, single = fleet.resolve(request, host)
    queue = settings.sse_queue_size
    if not single:

        def part(on: Host, pos: str | None) -> AsyncIterator[bytes]:
            after = _event_id(pos) if pos is not None else start
            return event_stream(on.events, match, after, queue, until_ns)

        def head(on: Host) -> str | None:
            # The newest event the host's reader has seen (the engine's clock), unless
            # the stream starts at `since`.
            if start is not None:
                return None
            newest = on.events.last_time_nano or on.events.journal_from
            return str(newest) if newest is not None else None

        return _merged(request, settings, hosts, part, last_event_id, head)
    resume = resume_point(request, last_event_id)
    after = _event_id(resume) if resume is not None else start
    if until_ns is not None and after is not None and until_ns <= after:
        raise errors.ValidationFailed.field(["query", "until"], "until must be after since")
    body = event_stream(hosts[0].events, match, after, queue, until_ns)
    return sse_response(body, settings, request)


def _event_id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise errors.ValidationFailed.field(
            ["query", "last_event_id"], f"{value[:80]!r} is not an event id"
        ) from None
