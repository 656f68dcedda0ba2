"""Host routes: the engines moorage serves, answered from its own state.

None of these waits on an engine: a host's fields are what its prober last saw
(app/hosts.py). Hosts from MOORAGE_HOSTS_FILE are read-only here (409); hosts added
through the API are kept in moorage's database and survive a restart.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import ValidationError

from app import errors
from app.fleet import may_use
from app.hosts import Host, HostRegistry
from app.models import hosts as m
from app.models.common import rfc3339
from app.targets import HOST_NAME_PATTERN

router = APIRouter(prefix="/v1/hosts", tags=["hosts"])

HostPath = Annotated[str, Path(pattern=HOST_NAME_PATTERN, description="The host's name")]


async def get_registry(request: Request) -> HostRegistry:
    registry: HostRegistry = request.app.state.hosts
    return registry


RegistryDep = Annotated[HostRegistry, Depends(get_registry)]


def view(host: Host) -> m.Host:
    """A host as moorage last saw it."""
    count = host.containers_count
    swarm = host.swarm
    return m.Host(
        name=host.name,
        url=host.engine.url,
        default=host.default,
        state=host.state,
        version=host.version,
        api_version=host.api_version,
        swarm=m.HostSwarm(node_id=swarm.node_id, role=swarm.role, cluster_id=swarm.cluster_id)
        if swarm is not None
        else None,
        containers=m.HostContainers(running=count[0], total=count[1]) if count else None,
        last_seen=rfc3339(host.last_seen),
        error=host.error,
        labels=dict(host.labels),
        disabled=host.disabled,
        source=host.config.source,
        since=rfc3339(host.since) or "",
    )


def _visible(request: Request, host: Host) -> bool:
    return may_use(request, host.name)


@router.get("", responses=errors.problem_responses())
async def hosts_list(request: Request, registry: RegistryDep) -> list[m.Host]:
    """Every host (those the caller's token may use), from moorage's own state."""
    return [view(h) for h in registry.all() if _visible(request, h)]


@router.get("/{host}", responses=errors.problem_responses(errors.HostNotFound))
async def hosts_get(request: Request, registry: RegistryDep, host: HostPath) -> m.Host:
    """One host, from moorage's own state (never waits on its engine)."""
    found = registry.get(host)
    if not _visible(request, found):
        raise errors.HostNotFound(f"No host named {host!r} (GET /v1/hosts lists them)")
    return view(found)


__all__ = ["router"]


def _absolute_files(spec: m.HostSpec) -> None:
    """A host added through the API names its files absolutely (there is no hosts
    file for a relative path to be read from)."""
    if spec.policy is not None and not spec.policy.startswith("/"):
        raise errors.ValidationFailed.field(["body", "policy"], "an absolute path")
    for part, files in (("tls", spec.tls), ("ssh", spec.ssh)):
        if files is None:
            continue
        for key, value in files.model_dump().items():
            if isinstance(value, str) and not value.startswith("/"):
                raise errors.ValidationFailed.field(["body", part, key], "an absolute path")


@router.post(
    "",
    status_code=201,
    responses=errors.problem_responses(errors.NameInUse, errors.Conflict),
)
async def hosts_create(registry: RegistryDep, spec: m.HostSpec) -> m.Host:
    """Add a host (kept in moorage's database); its engine is probed in the background."""
    _absolute_files(spec)
    return view(await registry.add(spec))


@router.patch(
    "/{host}",
    responses=errors.problem_responses(errors.HostNotFound, errors.Conflict),
)
async def hosts_update(registry: RegistryDep, host: HostPath, change: m.HostChange) -> m.Host:
    """Change a host added through the API (hosts of the file: 409); it reconnects."""
    old = registry.spec(host)
    merged = old.model_dump() | change.model_dump(exclude_unset=True)
    try:
        spec = m.HostSpec.model_validate(merged)
    except ValidationError as exc:
        raise errors.ValidationFailed(
            [{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        ) from exc
    _absolute_files(spec)
    return view(await registry.change(host, spec))


@router.delete(
    "/{host}",
    status_code=204,
    responses=errors.problem_responses(errors.HostNotFound, errors.Conflict),
)
async def hosts_delete(registry: RegistryDep, host: HostPath) -> Response:
    """Remove a host added through the API (hosts of the file: 409)."""
    await registry.remove(host)
    return Response(status_code=204)
