"""Volumes routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app import errors
from app.engine import Engine, EngineDep
from app.fleet import FANOUT_200, FleetDep
from app.models.common import Pruned, check_ref, label_filters
from app.models.volumes import Volume, VolumeCreate, VolumePruneRequest
from app.services.images import engine_filters

router = APIRouter(prefix="/v1/volumes", tags=["volumes"])


@router.get("", responses={**FANOUT_200, **errors.problem_responses(errors.BadRequest)})
async def volumes_list(
    fleet: FleetDep,
    label: Annotated[list[str] | None, Query(description="`key` or `key=value`")] = None,
    dangling: Annotated[bool | None, Query(description="Only volumes no container uses")] = None,
    name: Annotated[str | None, Query(description="Name contains")] = None,
    driver: str | None = None,
) -> list[Volume]:
    """List volumes."""
    filters: dict[str, list[str]] = {}
    if labels := label_filters(label):
        filters["label"] = labels
    if dangling is not None:
        filters["dangling"] = ["true" if dangling else "false"]
    if name:
        filters["name"] = [name]
    if driver:
        filters["driver"] = [driver]

    async def one(engine: Engine) -> list[Volume]:
        doc: dict[str, Any] = await engine.json(
            "GET", "volumes", params={"filters": filters or None}
        )
        return [Volume.from_engine(v) for v in doc.get("Volumes") or []]

    return await fleet.gather(one)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=errors.problem_responses(errors.BadRequest),
)
async def volumes_create(body: VolumeCreate, engine: EngineDep) -> Volume:
    """Create a volume (an existing name gives the existing volume, as docker does)."""
    doc: dict[str, Any] = await engine.json("POST", "volumes/create", json=body.to_engine())
    return Volume.from_engine(doc)


@router.get("/{name}", responses=errors.problem_responses(errors.VolumeNotFound))
async def volumes_get(name: str, engine: EngineDep) -> Volume:
    """One volume."""
    name = check_ref(name, "name")
    doc: dict[str, Any] = await engine.json("GET", f"volumes/{name}", kind="volume", ref=name)
    return Volume.from_engine(doc)


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors.problem_responses(errors.VolumeNotFound, errors.InUse),
)
async def volumes_delete(name: str, engine: EngineDep, force: bool = False) -> None:
    """Remove a volume; 409 in-use while a container mounts it."""
    name = check_ref(name, "name")
    await engine.json("DELETE", f"volumes/{name}", params={"force": force}, kind="volume", ref=name)


@router.post("/prune", responses=errors.problem_responses(errors.BadRequest))
async def volumes_prune(engine: EngineDep, body: VolumePruneRequest | None = None) -> Pruned:
    """Remove volumes no container uses; gives what went and the space reclaimed."""
    filters = engine_filters(dict((body or VolumePruneRequest()).filters))
    doc: dict[str, Any] = (
        await engine.json("POST", "volumes/prune", params={"filters": filters or None}, long=True)
        or {}
    )
    return Pruned(
        deleted=list(doc.get("VolumesDeleted") or []),
        space_reclaimed=int(doc.get("SpaceReclaimed") or 0),
    )
