"""Container routes (lifecycle)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

from app import errors, fleet
from app.engine import EngineDep, HostQuery
from app.fleet import FANOUT_200, HostsQuery
from app.hosts import Host
from app.middleware import HotRead
from app.models.common import Pruned, check_ref, label_filters
from app.models.containers import (
    Container,
    ContainerSpec,
    ContainerSummary,
    ContainerUpdate,
    PruneFilters,
    RunResult,
    RunSpec,
    WaitResult,
)
from app.services import containers as svc
from app.services.health import HealthStatus
from app.state import (
    STALE_HEADER,
    ContainerState,
    ContainerStateDep,
    inspect_container_json,
    list_containers_json,
)
from app.streams import client_gone

router = APIRouter(prefix="/v1/containers", tags=["containers"])

Status = Literal["created", "restarting", "running", "removing", "paused", "exited", "dead"]
# The one spelling of the statuses: typing treats Literals with the same values in any
# order as equal, so pydantic's schema cache gave the spec whichever order was imported
# first (a drift that came and went with the import order of the test run).
Health = HealthStatus
FilterText = Annotated[str, Query(min_length=1, max_length=255, pattern=r"^[^\x00]+$")]
StopTimeout = Annotated[
    int | None, Query(ge=0, le=3600, description="Seconds before SIGKILL (engine default: 10)")
]

_NOT_FOUND = (errors.ContainerNotFound,)
Fresh = Annotated[bool, Query(description="Ask the engine, not moorage's state of containers")]
Stale = Annotated[
    bool,
    Query(
        description="While the engine cannot be reached, answer moorage's last known state "
        f"(marked by the `{STALE_HEADER}` header) instead of 503"
    ),
]
# The 200 of a read that `stale=true` may have answered from an out-of-date copy.
_STALE_200: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            STALE_HEADER: {
                "description": "Only on an answer from moorage's last known state (asked "
                "with `stale=true` while the engine cannot be reached): the time (RFC 3339) "
                "since which it may be out of date",
                "schema": {"type": "string", "format": "date-time"},
            }
        }
    }
}


@functools.cache
def _summary_renderer(host: str) -> Callable[[dict[str, Any]], bytes]:
    """A list item's JSON on this host (cached per container by the host's state)."""

    def render(doc: dict[str, Any]) -> bytes:
        item = ContainerSummary.from_list(doc)
        item.host = host
        return item.model_dump_json().encode()

    return render


def _container_json(doc: dict[str, Any]) -> bytes:
    return Container.from_inspect(doc).model_dump_json().encode()


# The 200 of the list: maybe from a stale copy, maybe gathered from several hosts.
_merged_200: dict[int | str, dict[str, Any]] = {
    200: {"headers": {**_STALE_200[200]["headers"], **FANOUT_200[200]["headers"]}}
}


async def _synced(state: ContainerState | None, container: Container) -> Container:
    """Read-your-writes: the state shows a change before its answer leaves."""
    if state is not None:
        await state.refresh(container.id)
    return container


@router.get(
    "",
    response_model=list[ContainerSummary],
    responses={**_merged_200, **errors.problem_responses(errors.BadRequest)},
)
async def containers_list(
    request: Request,
    all: Annotated[bool, Query(description="Include stopped containers")] = False,
    label: Annotated[list[str] | None, Query(max_length=64)] = None,
    status: Annotated[list[Status] | None, Query(max_length=8)] = None,
    name: FilterText | None = None,
    ancestor: FilterText | None = None,
    network: FilterText | None = None,
    health: Health | None = None,
    fresh: Fresh = False,
    stale: Stale = False,
    host: HostsQuery = None,
) -> Response:
    """List containers (running ones unless `all`); `host=*`: of every host."""
    filters: dict[str, list[str]] = {}
    if label:
        filters["label"] = label_filters(label)
    for key, value in (("name", name), ("ancestor", ancestor), ("network", network)):
        if value is not None:
            filters[key] = [value]
    if status:
        filters["status"] = list(status)
    if health is not None:
        filters["health"] = [health]

    async def one(on: Host) -> Response:
        # The host's engine and state as EngineDep/ContainerStateDep give them, inline.
        if not stale:
            on.check()
        return await list_containers_json(
            on.containers,
            on.engine,
            _summary_renderer(on.name),
            all=all,
            filters=filters,
            fresh=fresh,
            stale=stale,
        )

    hosts, single = fleet.resolve(request, host)
    if single:
        return await one(hosts[0])
    answer = Response(media_type="application/json")
    parts = await fleet.Fleet(hosts, False, answer, fleet.timeout(request)).gather_parts(
        one, ask_down=stale
    )
    # Each host's answer is a JSON array: one array of them all, without parsing.
    bodies = [bytes(r.body)[1:-1] for r in parts]
    answer.body = b"[" + b",".join(b for b in bodies if b) + b"]"
    answer.headers["Content-Length"] = str(len(answer.body))
    stale_since = sorted(r.headers[STALE_HEADER] for r in parts if STALE_HEADER in r.headers)
    if stale_since:
        answer.headers[STALE_HEADER] = stale_since[0]
    return answer


@router.post(
    "",
    status_code=201,
    responses=errors.problem_responses(
        errors.BadRequest,
        errors.ImageNotFound,
        errors.NetworkNotFound,
        errors.Conflict,
        errors.NameInUse,
        errors.RegistryUnreachable,
    ),
)
async def containers_create(
    engine: EngineDep, state: ContainerStateDep, spec: ContainerSpec
) -> Container:
    """Create a container and start it (`"start": false` only creates)."""
    return await _synced(state, await svc.create(engine, spec))


@router.post(
    "/run",
    responses=errors.problem_responses(
        errors.BadRequest,
        errors.ImageNotFound,
        errors.Conflict,
        errors.ContainerError,
        errors.RegistryUnreachable,
    ),
)
async def containers_run(
    request: Request, engine: EngineDep, state: ContainerStateDep, spec: RunSpec
) -> RunResult:
    """Run a container to completion and give its exit code and output."""
    result = await svc.run(
        engine,
        spec,
        max_timeout=engine.settings.run_max_timeout,
        client_gone=lambda: client_gone(request.receive),
    )
    if state is not None:
        if spec.remove:
            state.note_removed(result.container_id)
        else:
            await state.refresh(result.container_id)
    return result


@router.post("/prune", responses=errors.problem_responses(errors.BadRequest))
async def containers_prune(
    engine: EngineDep, state: ContainerStateDep, body: PruneFilters | None = None
) -> Pruned:
    """Remove stopped containers (those matching `filters`)."""
    deleted = await svc.prune(engine, body.filters if body is not None else None)
    if state is not None:
        for cid in deleted.deleted:
            state.note_removed(cid)
    return deleted


@router.get(
    "/{id}",
    response_model=Container,
    responses={**_STALE_200, **errors.problem_responses(*_NOT_FOUND)},
)
async def containers_get(
    request: Request, id: str, fresh: Fresh = False, stale: Stale = False, host: HostQuery = None
) -> Response:
    """A container: typed fields, and the engine's inspect document under `attrs`."""
    on = request.app.state.hosts.get(host)
    return await _get_json(on, id, {"fresh": fresh, "stale": stale})


async def _get_json(host: Host, id: str, flags: Mapping[str, bool]) -> Response:
    # The host's engine and state straight from it (as EngineDep/ContainerStateDep
    # give them): no dependency solves on the hottest read.
    if not flags["stale"]:
        host.check()
    return await inspect_container_json(
        host.containers,
        host.engine,
        check_ref(id),
        _container_json,
        fresh=flags["fresh"],
        stale=flags["stale"],
    )


# The hottest read: app/middleware.py HotReads answers a plain GET of it (same
# authorize, same answer) without FastAPI's routing and dependency solving.
HOT_READS = [HotRead.of(router, "containers_get", ("fresh", "stale"), _get_json)]


@router.patch(
    "/{id}",
    responses=errors.problem_responses(*_NOT_FOUND, errors.BadRequest, errors.NameInUse),
)
async def containers_update(
    engine: EngineDep, state: ContainerStateDep, id: str, change: ContainerUpdate
) -> Container:
    """Rename, and update limits or the restart policy while it runs."""
    return await _synced(state, await svc.update(engine, check_ref(id), change))


@router.delete(
    "/{id}",
    status_code=204,
    responses=errors.problem_responses(*_NOT_FOUND, errors.ContainerRunning, errors.Conflict),
)
async def containers_delete(
    engine: EngineDep, state: ContainerStateDep, id: str, force: bool = False, volumes: bool = False
) -> Response:
    """Remove a container (a running one only with `force`)."""
    await svc.remove(engine, check_ref(id), force=force, volumes=volumes)
    if state is not None:
        state.note_removed(id)
    return Response(status_code=204)


@router.post(
    "/{id}/start",
    responses=errors.problem_responses(*_NOT_FOUND, errors.BadRequest, errors.Conflict),
)
async def containers_start(engine: EngineDep, state: ContainerStateDep, id: str) -> Container:
    """Start; a running container is left running."""
    return await _synced(state, await svc.start(engine, check_ref(id)))


@router.post("/{id}/stop", responses=errors.problem_responses(*_NOT_FOUND))
async def containers_stop(
    engine: EngineDep,
    state: ContainerStateDep,
    id: str,
    timeout: StopTimeout = None,  # noqa: ASYNC109 (the API's query parameter)
) -> Container:
    """Stop: SIGTERM, then SIGKILL after `timeout` seconds."""
    return await _synced(state, await svc.stop(engine, check_ref(id), within=timeout))


@router.post("/{id}/restart", responses=errors.problem_responses(*_NOT_FOUND, errors.Conflict))
async def containers_restart(
    engine: EngineDep,
    state: ContainerStateDep,
    id: str,
    timeout: StopTimeout = None,  # noqa: ASYNC109 (the API's query parameter)
) -> Container:
    """Restart (stop with `timeout`, then start)."""
    return await _synced(state, await svc.restart(engine, check_ref(id), within=timeout))


@router.post(
    "/{id}/kill",
    responses=errors.problem_responses(*_NOT_FOUND, errors.ContainerNotRunning, errors.BadRequest),
)
async def containers_kill(
    engine: EngineDep,
    state: ContainerStateDep,
    id: str,
    signal: Annotated[str, Query(max_length=16, pattern=r"^[A-Za-z0-9+-]+$")] = "SIGKILL",
) -> Container:
    """Send a signal (default SIGKILL)."""
    return await _synced(state, await svc.signal(engine, check_ref(id), "kill", signal=signal))


@router.post(
    "/{id}/pause",
    responses=errors.problem_responses(*_NOT_FOUND, errors.ContainerNotRunning, errors.Conflict),
)
async def containers_pause(engine: EngineDep, state: ContainerStateDep, id: str) -> Container:
    """Freeze every process of the container."""
    return await _synced(state, await svc.signal(engine, check_ref(id), "pause"))


@router.post("/{id}/unpause", responses=errors.problem_responses(*_NOT_FOUND, errors.Conflict))
async def containers_unpause(engine: EngineDep, state: ContainerStateDep, id: str) -> Container:
    """Thaw a paused container."""
    return await _synced(state, await svc.signal(engine, check_ref(id), "unpause"))


@router.post("/{id}/wait", responses=errors.problem_responses(*_NOT_FOUND))
async def containers_wait(
    engine: EngineDep,
    state: ContainerStateDep,
    id: str,
    timeout: Annotated[float | None, Query(gt=0, le=86_400, description="Seconds")] = None,  # noqa: ASYNC109
    condition: Literal["not-running", "next-exit", "removed"] = "not-running",
) -> WaitResult:
    """Wait for the container to stop; 504 (and it keeps running) past `timeout`."""
    result = await svc.wait(engine, check_ref(id), within=timeout, condition=condition)
    if state is not None:
        # What the caller waited for shows in the next list, before the engine's event.
        if condition == "removed":
            state.note_removed(id)
        else:
            await state.refresh(id)
    return result


class _EncodedSlashRoute(APIRoute):
    """Matches only a container path whose id carried an encoded `/` (`%2F`).

    The server decodes `%2F` before routing, so such an id would fall through every
    route as 404 "no route"; it is a bad id, and says so. Every other path is left to
    the real routes (this one never matches them).
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        raw = bytes(scope.get("raw_path") or b"").split(b"?", 1)[0].lower()
        if b"%2f" not in raw:
            return Match.NONE, {}
        return super().matches(scope)


async def _bad_container_ref(request: Request, rest: str) -> None:
    raise errors.ValidationFailed.field(["path", "id"], f"{rest[:80]!r} is not a valid id or name")


router.add_api_route(
    "/{rest:path}",
    _bad_container_ref,
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
    route_class_override=_EncodedSlashRoute,
)
