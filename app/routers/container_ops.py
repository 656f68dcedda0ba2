"""Container operations: commit, changes, export, recreate, image-update."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from app import errors
from app.downloads import tar_download, tar_response_doc
from app.engine import EngineDep
from app.models.common import check_ref
from app.models.container_ops import (
    Change,
    CommitRequest,
    ImageUpdate,
    RecreateRequest,
    RecreateResult,
)
from app.models.images import Image, RegistryAuth
from app.services import container_ops as svc
from app.services import containers
from app.state import ContainerStateDep

router = APIRouter(prefix="/v1/containers", tags=["containers"])

_NOT_FOUND = (errors.ContainerNotFound,)
_REGISTRY = (errors.RegistryDenied, errors.ImageNotFound, errors.EngineError)


def registry_auth_header(value: str | None) -> RegistryAuth | None:
    """docker's `X-Registry-Auth`: base64url JSON `{username, password, serveraddress}`
    or `{identitytoken}` (a GET carries no body)."""
    if not value:
        return None
    try:
        doc = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        return RegistryAuth.model_validate(doc)
    except (binascii.Error, ValueError, ValidationError, orjson.JSONDecodeError):
        raise errors.ValidationFailed.field(
            ["header", "x-registry-auth"],
            "not base64url JSON of {username, password, serveraddress} or {identitytoken}",
        ) from None


@router.post(
    "/{id}/commit",
    status_code=201,
    responses=errors.problem_responses(*_NOT_FOUND, errors.BadRequest),
)
async def containers_commit(engine: EngineDep, id: str, body: CommitRequest) -> Image:
    """Make an image of the container's filesystem (docker-py `commit`)."""
    return await svc.commit(engine, check_ref(id), body)


@router.get("/{id}/changes", responses=errors.problem_responses(*_NOT_FOUND))
async def containers_changes(engine: EngineDep, id: str) -> list[Change]:
    """Files added, changed and deleted since the container was made (docker-py `diff`)."""
    return await svc.changes(engine, check_ref(id))


@router.get(
    "/{id}/export",
    responses={
        200: tar_response_doc(
            "The container's filesystem as a tar, streamed (`application/x-tar` "
            "unless the client accepts only `application/octet-stream`)"
        ),
        **errors.problem_responses(*_NOT_FOUND),
    },
    response_class=StreamingResponse,
)
async def containers_export(request: Request, engine: EngineDep, id: str) -> StreamingResponse:
    """The container's filesystem as a tar (docker-py `export`), streamed."""
    doc = await containers.inspect(engine, check_ref(id))
    name = str(doc.get("Name") or doc["Id"][:12]).lstrip("/")
    return tar_download(request, svc.export_chunks(engine, str(doc["Id"])), name)


@router.post(
    "/{id}/recreate",
    responses=errors.problem_responses(*_NOT_FOUND, *_REGISTRY, errors.Conflict, errors.BadRequest),
)
async def containers_recreate(
    engine: EngineDep, state: ContainerStateDep, id: str, body: RecreateRequest | None = None
) -> RecreateResult:
    """The same container (name, config, networks, volumes) on a newer image; all or
    nothing: if the new one fails to start, the old one is back as it was."""
    result = await svc.recreate(engine, check_ref(id), body or RecreateRequest())
    if state is not None:
        state.note_removed(result.previous_id)
        await state.refresh(result.id)
    return result


@router.get("/{id}/image-update", responses=errors.problem_responses(*_NOT_FOUND, *_REGISTRY))
async def containers_image_update(
    engine: EngineDep,
    id: str,
    x_registry_auth: Annotated[
        str | None,
        Header(description="Registry credentials for this call: base64url JSON, as docker's"),
    ] = None,
) -> ImageUpdate:
    """Is a newer image behind the container's tag (its digest against the registry's)?"""
    return await svc.image_update(engine, check_ref(id), registry_auth_header(x_registry_auth))
