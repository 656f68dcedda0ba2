"""Swarm services and their tasks: create, read, change, scale, roll back, redeploy,
remove, and every task's logs merged in time order (history and SSE)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sse_starlette.sse import EventSourceResponse

from app import errors
from app.engine import EngineDep
from app.hosts import HostDep
from app.models.common import check_ref, engine_time, label_filters
from app.models.services import ScaleRequest, Service, ServiceCreate, ServiceSpec
from app.models.swarm import ServiceLogEvent, ServiceLogLine, Task
from app.routers.hosts import RegistryDep
from app.routers.streams import LastEventId, SettingsDep
from app.services import swarm, swarm_follow, swarm_logs
from app.services.live import time_ns
from app.services.swarm_logs import LogQuery
from app.streams import resume_point, sse_doc, sse_response

router = APIRouter()

_MANAGER = errors.NotASwarmManager
_NOT_FOUND = errors.ServiceNotFound
Labels = Annotated[list[str] | None, Query(description="`key` or `key=value`, repeatable")]
Tail = Annotated[str, Query(pattern=r"^(all|\d+)$", description="Lines per task, or `all`")]

_LOGS_DOC = """\
retry: 3000
id: 1764523623123456789-idhxsrkcr57s1x3zb9jg6pb2v-0
event: log
data: {"task_id": "idhxsrkcr57s1x3zb9jg6pb2v", "slot": 1, "node_id": "w8o2rp5wmodj62hmd8zv0hncp", \
"container_id": "54595d7f4d6f…", "stream": "stdout", "ts": "2025-11-30T17:27:03.123456789Z", \
"line": "hello"}
"""


@router.get("/v1/services", tags=["services"], responses=errors.problem_responses(_MANAGER))
async def services_list(
    engine: EngineDep,
    label: Labels = None,
    name: Annotated[str | None, Query(description="Name starts with")] = None,
    mode: Annotated[str | None, Query(pattern="^(replicated|global)$")] = None,
) -> list[Service]:
    """Services, each with `replicas` {running, desired} and its state."""
    filters: dict[str, list[str]] = {}
    if labels := label_filters(label):
        filters["label"] = labels
    if name:
        filters["name"] = [name]
    if mode:
        filters["mode"] = [mode]
    return await swarm.list_services(engine, filters)


@router.post(
    "/v1/services",
    tags=["services"],
    status_code=status.HTTP_201_CREATED,
    responses=errors.problem_responses(errors.NameInUse, errors.PolicyViolation, _MANAGER),
)
async def services_create(body: ServiceCreate, engine: EngineDep) -> Service:
    """Create a service. Its tasks start on the nodes the swarm picks; a service whose
    every task is rejected (a missing image) says so in `state`."""
    return await swarm.create_service(engine, body)


@router.get(
    "/v1/services/{id}", tags=["services"], responses=errors.problem_responses(_NOT_FOUND, _MANAGER)
)
async def services_get(id: str, engine: EngineDep) -> Service:
    """One service (by id or name)."""
    check_ref(id)
    return await swarm.get_service(engine, id)


@router.patch(
    "/v1/services/{id}",
    tags=["services"],
    responses=errors.problem_responses(_NOT_FOUND, errors.PolicyViolation, _MANAGER),
)
async def services_update(id: str, body: ServiceSpec, engine: EngineDep) -> Service:
    """Change the fields given, keep the rest (a rolling update when tasks change).
    moorage sends the engine's version, and retries when another writer came first."""
    check_ref(id)
    return await swarm.update_service(engine, id, swarm.patch(body))


@router.delete(
    "/v1/services/{id}",
    tags=["services"],
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors.problem_responses(_NOT_FOUND, _MANAGER),
)
async def services_delete(id: str, engine: EngineDep) -> None:
    """Remove a service and its tasks."""
    check_ref(id)
    await engine.json("DELETE", f"services/{id}", kind="service", ref=id)


@router.post(
    "/v1/services/{id}/scale",
    tags=["services"],
    responses=errors.problem_responses(_NOT_FOUND, errors.Conflict, _MANAGER),
)
async def services_scale(id: str, body: ScaleRequest, engine: EngineDep) -> Service:
    """Set the number of replicas (409 for a global service)."""
    check_ref(id)
    return await swarm.update_service(engine, id, swarm.scale(body.replicas))


@router.post(
    "/v1/services/{id}/rollback",
    tags=["services"],
    responses=errors.problem_responses(_NOT_FOUND, errors.Conflict, _MANAGER),
)
async def services_rollback(id: str, engine: EngineDep) -> Service:
    """Return to the previous spec (409 when there is none)."""
    check_ref(id)
    return await swarm.update_service(engine, id, swarm.unchanged, params={"rollback": "previous"})


@router.post(
    "/v1/services/{id}/redeploy",
    tags=["services"],
    responses=errors.problem_responses(_NOT_FOUND, _MANAGER),
)
async def services_redeploy(id: str, engine: EngineDep) -> Service:
    """Replace every task with a new one of the same spec (a forced rollout)."""
    check_ref(id)
    return await swarm.update_service(engine, id, swarm.force_redeploy)


def _log_query(
    tail: str, since: str | None, until: str | None, stdout: bool, stderr: bool, *, follow: bool
) -> LogQuery:
    query = LogQuery(
        tail=tail,
        since=engine_time(since) if since else None,
        until=engine_time(until) if until else None,
        stdout=stdout,
        stderr=stderr,
        since_ns=time_ns(since) if since and follow else None,
    )
    if not query.streams():
        raise errors.ValidationFailed.field(["query", "stdout"], "ask for stdout, stderr or both")
    return query


def _history_query(
    tail: Tail = "all",
    since: str | None = None,
    until: str | None = None,
    stdout: bool = True,
    stderr: bool = True,
) -> LogQuery:
    return _log_query(tail, since, until, stdout, stderr, follow=False)


def _follow_query(
    tail: Tail = "all", since: str | None = None, stdout: bool = True, stderr: bool = True
) -> LogQuery:
    return _log_query(tail, since, None, stdout, stderr, follow=True)


# Checked before the handler runs: a bad query is a 422 before any engine call (or
# before a stream starts). First in a route's parameters, so that its query
# parameters keep their place in the spec.
HistoryQuery = Annotated[LogQuery, Depends(_history_query)]
FollowQuery = Annotated[LogQuery, Depends(_follow_query)]


def _resume_id(request: Request, last_event_id: LastEventId = None) -> str | None:
    return resume_point(request, last_event_id)


# A dependency of its own (after FollowQuery) only so that `last_event_id` stays after
# the log query's parameters in the spec: a handler's own come before its dependencies'.
ResumeId = Annotated[str | None, Depends(_resume_id)]


@router.get(
    "/v1/services/{id}/logs",
    tags=["services"],
    responses=errors.problem_responses(_NOT_FOUND, _MANAGER),
)
async def services_logs(
    id: str, query: HistoryQuery, host: HostDep, registry: RegistryDep
) -> list[ServiceLogLine]:
    """Every task's lines, merged in timestamp order, each with its task, slot, node
    and container. A task on a node that is also a configured host is read there."""
    check_ref(id)
    engine = host.engine
    params = query.history_params()
    doc = await swarm.service_doc(engine, id)
    tasks: list[dict[str, Any]] = await engine.json(
        "GET", "tasks", params={"filters": {"service": [doc["ID"]]}}
    )
    nodes = swarm_follow.node_hosts(registry, host)
    return await swarm_logs.history(
        engine, tasks or [], params, {node: h.engine for node, h in nodes.items()}
    )


@router.get(
    "/v1/services/{id}/logs/stream",
    tags=["services"],
    response_class=EventSourceResponse,
    responses={
        **sse_doc(
            "`event: log` per line, every task's merged in timestamp order; id "
            "`<ts_ns>-<task_id>-<seq>`, resumable with Last-Event-ID; "
            '`event: end` `{"reason": "removed"}` when the service goes',
            _LOGS_DOC,
            events={"log": ServiceLogEvent},
        ),
        **errors.problem_responses(_NOT_FOUND, _MANAGER),
    },
)
async def services_logs_stream(
    id: str,
    query: FollowQuery,
    resume: ResumeId,
    request: Request,
    host: HostDep,
    registry: RegistryDep,
    settings: SettingsDep,
) -> EventSourceResponse:
    """Follow a service's logs (SSE): every task's lines merged in timestamp order.

    A line waits `MOORAGE_SWARM_LOGS_WINDOW` s (0.1) so that other tasks' lines of the
    same moment take their place before it. A resume continues right after the line
    named (`tail`/`since` are then ignored), without repeats or gaps. Every client of
    a service shares one follow; a task on a node that is also a configured host is
    followed on that host."""
    check_ref(id)
    engine = host.engine
    after = swarm_logs.parse_id(resume) if resume else None
    doc = await swarm.service_doc(engine, id)
    service_id: str = doc["ID"]
    producer = swarm_follow.producer(
        host, registry, service_id, settings.swarm_logs_window, settings.stream_logs_buffer_bytes
    )
    body = swarm_follow.follow(
        host.hubs, producer, engine, service_id, query, after, resume, settings.sse_queue_size
    )
    return sse_response(body, settings, request, engine_lost=host.events.watch_disconnect)


# -- tasks ----------------------------------------------------------------------------


@router.get("/v1/tasks", tags=["tasks"], responses=errors.problem_responses(_MANAGER))
async def tasks_list(
    engine: EngineDep,
    service: Annotated[str | None, Query(description="Service id or name")] = None,
    node: Annotated[str | None, Query(description="Node id or hostname")] = None,
    desired_state: Annotated[str | None, Query(pattern="^(running|shutdown|accepted)$")] = None,
    label: Labels = None,
) -> list[Task]:
    """Tasks, each with its node and container."""
    filters: dict[str, list[str]] = {}
    if service:
        filters["service"] = [check_ref(service, "service")]
    if node:
        filters["node"] = [check_ref(node, "node")]
    if desired_state:
        filters["desired-state"] = [desired_state]
    if labels := label_filters(label):
        filters["label"] = labels
    docs: list[dict[str, Any]] = await engine.json(
        "GET", "tasks", params={"filters": filters or None}
    )
    return [Task.from_engine(d) for d in docs or []]


@router.get(
    "/v1/tasks/{id}",
    tags=["tasks"],
    responses=errors.problem_responses(errors.TaskNotFound, _MANAGER),
)
async def tasks_get(id: str, engine: EngineDep) -> Task:
    """One task."""
    check_ref(id)
    return Task.from_engine(await engine.json("GET", f"tasks/{id}", kind="task", ref=id))


@router.get(
    "/v1/tasks/{id}/logs",
    tags=["tasks"],
    responses=errors.problem_responses(errors.TaskNotFound, _MANAGER),
)
async def tasks_logs(
    id: str, query: HistoryQuery, host: HostDep, registry: RegistryDep
) -> list[ServiceLogLine]:
    """One task's lines, with its slot, node and container (read on its node when
    that node is a configured host)."""
    check_ref(id)
    engine = host.engine
    params = query.history_params()
    doc: dict[str, Any] = await engine.json("GET", f"tasks/{id}", kind="task", ref=id)
    nodes = swarm_follow.node_hosts(registry, host)
    return await swarm_logs.history(
        engine, [doc], params, {node: h.engine for node, h in nodes.items()}
    )
