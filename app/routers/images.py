"""Images routes.

Fixed paths (`pull`, `push`, `build`, `load`, `prune`, `distribution`) are declared before the
`{ref:path}` routes so they win; `{ref:path}` takes every reference form
(`name`, `name:tag`, `host:port/team/name:tag`, `name@sha256:…`, ids). The suffix
routes (`/history`, `/tag`, `/export`) come before the plain `{ref:path}` one: an
image whose repository ends in `/history` or `/export` is addressed with its tag.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter, ValidationError
from sse_starlette.sse import EventSourceResponse

from app import audit, errors
from app.downloads import BINARY, OCTET, tar_download, tar_response_doc
from app.engine import Engine, EngineDep
from app.fleet import FANOUT_200, FleetDep
from app.models.common import Labels, label_filters
from app.models.events import BuildDone, BuildLog, PullProgress
from app.models.images import (
    BuildCachePruned,
    BuildCachePruneRequest,
    BuildOptions,
    BuildResult,
    BuildSpec,
    DistributionRequest,
    Image,
    ImageLayer,
    ImagePruneRequest,
    ImagesPruned,
    LoadResult,
    PullRequest,
    PushRequest,
    PushResult,
    RegistryData,
    SearchResult,
    TagRequest,
)
from app.routers.streams import SettingsDep
from app.services import images as svc
from app.services import registry_ops
from app.services.registry_auth import parse_reference
from app.settings import Settings
from app.streams import accepts_sse, primed, sse_doc, sse_response

router = APIRouter(prefix="/v1/images", tags=["images"])

TAR_TYPES = ("application/x-tar", "application/octet-stream", "application/gzip")


def _inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its `$defs` put in place: the spec has no `$defs` for a
    body documented by hand, and generators cannot follow `#/$defs/...` there."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    out: dict[str, Any] = resolve(schema)
    return out


def _tar_body(description: str, json_schema: dict[str, Any] | None = None) -> dict[str, Any]:
    # Documented as octet-stream so that generators handle it; x-tar is accepted too.
    content: dict[str, Any] = {OCTET: BINARY}
    if json_schema is not None:
        content["application/json"] = {"schema": json_schema}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


_STRING_MAP: TypeAdapter[dict[str, str]] = TypeAdapter(dict[str, str])
_LABELS: TypeAdapter[dict[str, str]] = TypeAdapter(Labels)


def _json_options(raw: str | None, name: str) -> dict[str, str]:
    """`buildargs` / `labels` query values: a JSON object of strings (labels bounded)."""
    if raw is None:
        return {}
    try:
        value = _STRING_MAP.validate_json(raw)
    except ValidationError as exc:
        raise errors.ValidationFailed.field(
            ["query", name], "must be a JSON object of strings"
        ) from exc
    if name == "labels":
        try:
            value = _LABELS.validate_python(value)
        except ValidationError as exc:
            raise errors.ValidationFailed.field(["query", name], exc.errors()[0]["msg"]) from exc
    return value


_PROGRESS_DOC = """\
retry: 3000

event: progress
data: {"id": "a1b2c3d4e5f6", "status": "Downloading", "current": 524288, "total": 2097152}

event: done
data: {"id": "sha256:4f1c8e2a9b7d6c5e", "short_id": "4f1c8e2a9b7d", \
"tags": ["registry.example/team/app:1"], "digests": [], "created": "2025-11-30T17:27:03Z", \
"size": 4194304, "labels": {}, "architecture": "amd64", "os": "linux", "attrs": {}}
"""
_PUSH_DOC = """\
retry: 3000

event: progress
data: {"id": "a1b2c3d4e5f6", "status": "Pushing", "current": 524288, "total": 2097152}

event: done
data: {"repository": "127.0.0.1:5000/team/app", "tag": "1", "digest": "sha256:4f1c8e2a9b7d", \
"size": 528}
"""
_BUILD_DOC = """\
retry: 3000

event: log
data: {"line": "Step 1/2 : FROM busybox"}

event: progress
data: {"id": "latest", "status": "Pulling from library/busybox", "current": null, "total": null}

event: done
data: {"image": "sha256:4f1c8e2a9b7d6c5e", "tags": ["app:1"]}
"""
_SSE_NOTE = (
    " A refusal the engine reports before its first line (policy, credentials, a bad "
    "option) is still a problem response; a later failure is `event: error` with a "
    "problem document."
)


async def _streamed(
    request: Request, events: svc.ProgressStream, settings: Settings
) -> EventSourceResponse:
    """The SSE form of a pull, push or build: the engine call is under way (and has
    passed its first line, or `sse_ping_interval` s) before the 200 starts."""
    rest = await primed(events, settings.sse_ping_interval)
    body = audit.stream_outcome(request, svc.sse_events(rest))
    return sse_response(body, settings, request)


@router.get("", responses={**FANOUT_200, **errors.problem_responses(errors.BadRequest)})
async def images_list(
    fleet: FleetDep,
    label: Annotated[list[str] | None, Query(description="`key` or `key=value`")] = None,
    dangling: bool | None = None,
    reference: Annotated[
        list[str] | None, Query(description="Name pattern, `busybox`, `team/*:1.*`")
    ] = None,
    all: Annotated[bool, Query(description="Include intermediate images")] = False,
) -> list[Image]:
    """List images."""
    filters: dict[str, list[str]] = {}
    if labels := label_filters(label):
        filters["label"] = labels
    if dangling is not None:
        filters["dangling"] = ["true" if dangling else "false"]
    if reference:
        filters["reference"] = reference

    async def one(engine: Engine) -> list[Image]:
        docs: list[dict[str, Any]] = await engine.json(
            "GET", "images/json", params={"filters": filters or None, "all": all}
        )
        return [Image.from_engine(d) for d in docs or []]

    return await fleet.gather(one)


@router.get(
    "/search",
    responses=errors.problem_responses(
        errors.BadRequest, errors.RegistryUnreachable, errors.RegistryDenied
    ),
)
async def images_search(
    engine: EngineDep,
    term: Annotated[str, Query(min_length=1, max_length=512, pattern=r"^[^\x00\s]+$")],
    limit: Annotated[int | None, Query(ge=1, le=100)] = None,
    is_official: bool | None = None,
    is_automated: bool | None = None,
    stars: Annotated[int | None, Query(ge=0, description="At least this many stars")] = None,
) -> list[SearchResult]:
    """Search a registry (Docker Hub unless the term names one), as `docker search`."""
    filters: dict[str, list[str]] = {}
    for key, flag in (("is-official", is_official), ("is-automated", is_automated)):
        if flag is not None:
            filters[key] = ["true" if flag else "false"]
    if stars is not None:
        filters["stars"] = [str(stars)]
    return await registry_ops.search(engine, term, limit, filters)


@router.post("/prune-builds", responses=errors.problem_responses(errors.BadRequest))
async def images_prune_builds(
    engine: EngineDep, body: BuildCachePruneRequest | None = None
) -> BuildCachePruned:
    """Remove build cache (docker-py `images.prune_builds`)."""
    return await svc.prune_builds(engine, body or BuildCachePruneRequest())


@router.post(
    "/pull",
    response_model=Image | list[Image],
    responses={
        **sse_doc(
            "The pulled image; with `Accept: text/event-stream`, `event: progress` "
            "per layer update, last `event: done` with the image." + _SSE_NOTE,
            _PROGRESS_DOC,
            events={"progress": PullProgress, "done": Image},
        ),
        **errors.problem_responses(
            errors.BadRequest,
            errors.RegistryDenied,
            errors.ImageNotFound,
            errors.RegistryUnreachable,
        ),
    },
)
async def images_pull(
    body: PullRequest, request: Request, engine: EngineDep, settings: SettingsDep
) -> Image | list[Image] | EventSourceResponse:
    """Pull an image (with credentials for that one call); SSE progress on request.
    With `all_tags`, every tag of the repository, and the answer is the list."""
    if accepts_sse(request):
        return await _streamed(request, svc.pull(engine, body), settings)
    return await svc.pull_images(engine, body)


@router.post(
    "/push",
    response_model=PushResult,
    responses={
        **sse_doc(
            "The push result; with `Accept: text/event-stream`, `event: progress` per "
            "layer update, last `event: done` with the result." + _SSE_NOTE,
            _PUSH_DOC,
            events={"progress": PullProgress, "done": PushResult},
        ),
        **errors.problem_responses(
            errors.BadRequest,
            errors.RegistryDenied,
            errors.ImageNotFound,
            errors.RegistryUnreachable,
        ),
    },
)
async def images_push(
    body: PushRequest, request: Request, engine: EngineDep, settings: SettingsDep
) -> PushResult | EventSourceResponse:
    """Push a repository, one tag or all (credentials for that one call); SSE on request."""
    if accepts_sse(request):
        return await _streamed(request, svc.push(engine, body), settings)
    return await svc.push_image(engine, body)


@router.post(
    "/distribution",
    responses=errors.problem_responses(
        errors.BadRequest, errors.RegistryDenied, errors.ImageNotFound, errors.RegistryUnreachable
    ),
)
async def images_distribution(body: DistributionRequest, engine: EngineDep) -> RegistryData:
    """Ask the registry for a reference's digest and platforms, without pulling."""
    return await svc.registry_data(engine, body)


@router.post(
    "/build",
    response_model=BuildResult,
    responses={
        **sse_doc(
            "The image and the build output; with `Accept: text/event-stream`, `event: log` "
            "per output line, `event: progress` for base image pulls, last `event: done` "
            "`{image, tags}`; a failed build is `event: error` with `build-failed` and its "
            "`log`." + _SSE_NOTE,
            _BUILD_DOC,
            events={"log": BuildLog, "progress": PullProgress, "done": BuildDone},
        ),
        **errors.problem_responses(
            errors.BadRequest,
            errors.BuildFailed,
            errors.UnsupportedMediaType,
            errors.RegistryUnreachable,
        ),
    },
    openapi_extra=_tar_body(
        "A tar build context (optionally gzip/bzip2/xz), or the JSON form for small builds",
        _inline_defs(BuildSpec.model_json_schema()),
    ),
)
async def images_build(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    tag: Annotated[list[str] | None, Query(description="Tag(s) of the result")] = None,
    dockerfile: Annotated[str | None, Query(description="Dockerfile path in the context")] = None,
    target: str | None = None,
    buildargs: Annotated[str | None, Query(description='JSON object: {"V": "1"}')] = None,
    labels: Annotated[str | None, Query(description='JSON object: {"k": "v"}')] = None,
    nocache: bool = False,
    pull: Annotated[bool, Query(description="Always pull newer base images")] = False,
    rm: bool = True,
    forcerm: bool = False,
    platform: str | None = None,
    network: str | None = None,
    cache_from: Annotated[
        list[str] | None, Query(description="Images whose layers may be reused")
    ] = None,
    shmsize: Annotated[str | None, Query(description="/dev/shm of RUN steps: bytes or `64m`")] = (
        None
    ),
    extra_hosts: Annotated[
        list[str] | None, Query(description="`name:ip` (repeatable) for RUN steps' /etc/hosts")
    ] = None,
    container_limits: Annotated[
        str | None,
        Query(
            description='JSON object: {"memory": "256m", "memswap": -1, "cpushares": 512, '
            '"cpusetcpus": "0", "cpuperiod": 100000, "cpuquota": 50000}'
        ),
    ] = None,
    squash: Annotated[bool, Query(description="Needs an experimental engine")] = False,
    quiet: Annotated[bool, Query(description="Only the image id in the output")] = False,
) -> BuildResult | EventSourceResponse:
    """Build an image from a tar context (streamed to the engine) or from JSON; SSE on request."""
    stream = accepts_sse(request)
    ctype = _content_type(request)
    if ctype == "application/json":
        try:
            spec = BuildSpec.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_input=False)]
            ) from None
        tar = svc.context_tar(spec)
        if stream:
            return await _streamed(request, svc.build(engine, tar, spec), settings)
        return await svc.build_image(engine, tar, spec)
    if ctype not in TAR_TYPES:
        raise errors.UnsupportedMediaType(
            f"Send a tar context ({', '.join(TAR_TYPES)}) or application/json, not {ctype!r}"
        )
    try:
        limits = orjson.loads(container_limits) if container_limits is not None else None
    except orjson.JSONDecodeError:
        raise errors.ValidationFailed.field(
            ["query", "container_limits"], "must be a JSON object"
        ) from None
    try:
        options = BuildOptions.model_validate(
            {
                "tag": tag,
                "target": target,
                "buildargs": _json_options(buildargs, "buildargs"),
                "labels": _json_options(labels, "labels"),
                "nocache": nocache,
                "pull": pull,
                "rm": rm,
                "forcerm": forcerm,
                "platform": platform,
                "network": network,
                "cache_from": cache_from or [],
                "shmsize": shmsize,
                "extra_hosts": extra_hosts,
                "container_limits": limits,
                "squash": squash,
                "quiet": quiet,
            }
        )
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_input=False)]
        ) from None
    context = await svc.tar_stream(request.stream(), "build context")
    if engine.guard is not None:
        # With a policy the Dockerfile is read before the engine sees the context.
        context = await svc.spool(context)
    if stream:
        return await _streamed(request, svc.build(engine, context, options, dockerfile), settings)
    return await svc.build_image(engine, context, options, dockerfile)


@router.post(
    "/load",
    responses=errors.problem_responses(errors.BadRequest, errors.UnsupportedMediaType),
    openapi_extra=_tar_body("An image tarball, as `docker save` / export writes"),
)
async def images_load(request: Request, engine: EngineDep) -> LoadResult:
    """Load images from an uploaded tarball (streamed to the engine)."""
    ctype = _content_type(request)
    if ctype not in TAR_TYPES:
        raise errors.UnsupportedMediaType(f"Send the tarball as application/x-tar, not {ctype!r}")
    body = await svc.tar_stream(request.stream(), "image archive")
    return LoadResult(images=await svc.load_images(engine, body))


@router.post("/prune", responses=errors.problem_responses(errors.BadRequest))
async def images_prune(engine: EngineDep, body: ImagePruneRequest | None = None) -> ImagesPruned:
    """Remove unused images (dangling only, by default)."""
    body = body or ImagePruneRequest()
    return await svc.prune_images(engine, body.dangling, body.filters)


@router.get("/{ref:path}/history", responses=errors.problem_responses(errors.ImageNotFound))
async def images_history(ref: str, engine: EngineDep) -> list[ImageLayer]:
    """The layers of an image, newest first."""
    ref = svc.check_image_ref(ref)
    docs: list[dict[str, Any]] = await engine.json(
        "GET", f"images/{ref}/history", kind="image", ref=ref
    )
    return [ImageLayer.from_engine(d) for d in docs or []]


@router.get(
    "/{ref:path}/export",
    responses={
        200: tar_response_doc(
            "The image tarball (`application/x-tar` unless the client accepts "
            "only `application/octet-stream`)"
        ),
        **errors.problem_responses(errors.ImageNotFound),
    },
    response_class=StreamingResponse,
)
async def images_export(ref: str, request: Request, engine: EngineDep) -> StreamingResponse:
    """The image as a tarball (`docker save`), streamed."""
    image = await svc.get_image(engine, svc.check_image_ref(ref))
    filename = (image.tags[0] if image.tags else image.short_id).replace("/", "_")
    return tar_download(request, svc.export_chunks(engine, ref), filename)


@router.post(
    "/{ref:path}/tag",
    status_code=status.HTTP_201_CREATED,
    responses=errors.problem_responses(errors.ImageNotFound),
)
async def images_tag(ref: str, body: TagRequest, engine: EngineDep) -> Image:
    """Tag an image as `repository:tag`."""
    ref = svc.check_image_ref(ref)
    if parse_reference(body.repository, ("body", "repository")).repository != body.repository:
        raise errors.ValidationFailed.field(
            ["body", "repository"], "give the repository without a tag; the tag goes in `tag`"
        )
    await svc.tag_image(engine, ref, f"{body.repository}:{body.tag}")
    return await svc.get_image(engine, f"{body.repository}:{body.tag}")


@router.get("/{ref:path}", responses=errors.problem_responses(errors.ImageNotFound))
async def images_get(ref: str, engine: EngineDep) -> Image:
    """One image, by name, name:tag, registry/name:tag, name@digest, id or short id."""
    return await svc.get_image(engine, svc.check_image_ref(ref))


@router.delete(
    "/{ref:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors.problem_responses(errors.ImageNotFound, errors.InUse, errors.Conflict),
)
async def images_delete(
    ref: str, engine: EngineDep, force: bool = False, noprune: bool = False
) -> None:
    """Remove an image (or untag it, when it has other tags)."""
    await svc.delete_image(engine, svc.check_image_ref(ref), force=force, noprune=noprune)
