"""Networks routes."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app import errors
from app.engine import Engine, EngineDep
from app.fleet import FANOUT_200, FleetDep
from app.models.common import Pruned, check_ref, label_filters
from app.models.networks import (
    Network,
    NetworkConnect,
    NetworkCreate,
    NetworkDisconnect,
    NetworkPruneRequest,
)
from app.services.images import engine_filters

router = APIRouter(prefix="/v1/networks", tags=["networks"])


async def _get(engine: Engine, ref: str) -> Network:
    doc: dict[str, Any] = await engine.json("GET", f"networks/{ref}", kind="network", ref=ref)
    return Network.from_engine(doc)


@router.get("", responses={**FANOUT_200, **errors.problem_responses(errors.BadRequest)})
async def networks_list(
    fleet: FleetDep,
    label: Annotated[list[str] | None, Query(description="`key` or `key=value`")] = None,
    name: Annotated[str | None, Query(description="Name contains")] = None,
    driver: str | None = None,
    id: str | None = None,
    scope: str | None = None,
    type: Annotated[str | None, Query(description="`custom` or `builtin`")] = None,
    dangling: Annotated[bool | None, Query(description="Only networks no container uses")] = None,
    greedy: Annotated[
        bool, Query(description="Fill in `containers` (one more engine call per network)")
    ] = False,
) -> list[Network]:
    """List networks (`containers` is filled in with `greedy`, or by the single GET)."""
    filters: dict[str, list[str]] = {}
    if labels := label_filters(label):
        filters["label"] = labels
    for key, value in (("name", name), ("driver", driver), ("id", id), ("scope", scope)):
        if value:
            filters[key] = [value]
    if type:
        filters["type"] = [type]
    if dangling is not None:
        filters["dangling"] = ["true" if dangling else "false"]

    async def one(engine: Engine) -> list[Network]:
        docs: list[dict[str, Any]] = await engine.json(
            "GET", "networks", params={"filters": filters or None}
        )
        if greedy:
            found = await asyncio.gather(
                *(_get(engine, str(d["Id"])) for d in docs or []), return_exceptions=True
            )
            for item in found:  # a network removed since the list is left out
                if isinstance(item, BaseException) and not isinstance(item, errors.NetworkNotFound):
                    raise item
            return [n for n in found if isinstance(n, Network)]
        return [Network.from_engine(d) for d in docs or []]

    return await fleet.gather(one)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=errors.problem_responses(errors.BadRequest, errors.NameInUse, errors.Conflict),
)
async def networks_create(body: NetworkCreate, engine: EngineDep) -> Network:
    """Create a network."""
    try:
        doc: dict[str, Any] = await engine.json("POST", "networks/create", json=body.to_engine())
    except errors.EngineError as exc:
        # `scope: swarm` (or an overlay) on an engine outside a swarm: its 500.
        if "not a swarm manager" in exc.detail:
            raise errors.NotASwarmManager(exc.detail) from None
        raise
    return await _get(engine, str(doc["Id"]))


@router.post("/prune", responses=errors.problem_responses(errors.BadRequest))
async def networks_prune(engine: EngineDep, body: NetworkPruneRequest | None = None) -> Pruned:
    """Remove networks no container uses."""
    filters = engine_filters(dict((body or NetworkPruneRequest()).filters))
    doc: dict[str, Any] = (
        await engine.json("POST", "networks/prune", params={"filters": filters or None}, long=True)
        or {}
    )
    return Pruned(deleted=list(doc.get("NetworksDeleted") or []))


@router.get("/{id}", responses=errors.problem_responses(errors.NetworkNotFound))
async def networks_get(id: str, engine: EngineDep) -> Network:
    """One network, with the containers attached to it."""
    return await _get(engine, check_ref(id))


@router.delete(
    "/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors.problem_responses(errors.NetworkNotFound, errors.InUse, errors.Conflict),
)
async def networks_delete(id: str, engine: EngineDep) -> None:
    """Remove a network; 409 for predefined networks and networks in use."""
    id = check_ref(id)
    await engine.json("DELETE", f"networks/{id}", kind="network", ref=id)


@router.post(
    "/{id}/connect",
    responses=errors.problem_responses(
        errors.BadRequest, errors.NetworkNotFound, errors.ContainerNotFound, errors.Conflict
    ),
)
async def networks_connect(id: str, body: NetworkConnect, engine: EngineDep) -> Network:
    """Attach a container (aliases, static addresses); gives the network."""
    id = check_ref(id)
    await engine.json(
        "POST", f"networks/{id}/connect", json=body.to_engine(), kind="network", ref=id
    )
    return await _get(engine, id)


@router.post(
    "/{id}/disconnect",
    responses=errors.problem_responses(
        errors.NetworkNotFound, errors.ContainerNotFound, errors.Conflict
    ),
)
async def networks_disconnect(id: str, body: NetworkDisconnect, engine: EngineDep) -> Network:
    """Detach a container; gives the network."""
    id = check_ref(id)
    try:
        await engine.json(
            "POST", f"networks/{id}/disconnect", json=body.to_engine(), kind="network", ref=id
        )
    except errors.EngineError as exc:
        # The engine answers 500 for a container that is not attached: a conflict.
        if "is not connected" in exc.detail:
            raise errors.Conflict(exc.detail) from None
        raise
    return await _get(engine, id)
