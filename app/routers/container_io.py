"""Container input/output routes: logs history, health, stats, top, archive."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import aiohttp
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from app import errors
from app.downloads import BINARY, OCTET, TAR, tar_media_type
from app.engine import Engine, EngineDep
from app.models.common import check_ref, engine_time
from app.models.container_io import LogEntry, PathStat, ProcessTable, check_container_path
from app.services import archive
from app.services.health import HealthReport, health_report
from app.services.logs import (
    LineBatch,
    iter_log_batches,
    iter_log_text,
    logs_params,
    ndjson_records,
)
from app.services.stats import StatsSample, compute_sample

router = APIRouter(prefix="/v1/containers", tags=["containers"])

NDJSON = "application/x-ndjson"
_CONTAINER = errors.problem_responses(errors.ContainerNotFound)


class EngineBodyResponse(StreamingResponse):
    """Streams an engine response body; releases it whatever happens (client gone,
    failure mid-stream, or a response never sent)."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        close: Callable[[], Awaitable[None]],
        media_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._close = close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._close()


async def _open(
    engine: Engine, method: str, path: str, **kwargs: Any
) -> tuple[aiohttp.ClientResponse, contextlib.AsyncExitStack]:
    """Open an engine call whose body is streamed later (errors raise here, as problems)."""
    stack = contextlib.AsyncExitStack()
    response = await stack.enter_async_context(engine.request(method, path, **kwargs))
    return response, stack


async def _open_logs(
    engine: Engine, id: str, params: dict[str, Any]
) -> tuple[aiohttp.ClientResponse, contextlib.AsyncExitStack]:
    try:
        return await _open(
            engine, "GET", f"containers/{id}/logs", params=params, long=True, unchunked=True
        )
    except errors.EngineError as exc:
        if "does not support reading" in exc.detail:
            # The engine's 501: the container's log driver (none, syslog, …) keeps nothing.
            raise errors.Conflict(f"Cannot read these logs back: {exc.detail}") from exc
        raise


def _wants_ndjson(request: Request) -> bool:
    return NDJSON in request.headers.get("accept", "")


async def _container(engine: Engine, id: str) -> dict[str, Any]:
    doc: dict[str, Any] = await engine.json(
        "GET", f"containers/{check_ref(id)}/json", kind="container", ref=id
    )
    return doc


async def _ndjson(batches: AsyncIterator[LineBatch]) -> AsyncIterator[bytes]:
    # One write per piece of body read from the engine, not one per line.
    async for batch in batches:
        yield ndjson_records(batch)


@router.get(
    "/{id}/logs",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The log history: text (default) or NDJSON, one `LogEntry` a line",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                NDJSON: {"schema": LogEntry.model_json_schema()},
            },
        },
        **errors.problem_responses(errors.ContainerNotFound, errors.Conflict),
    },
)
async def containers_logs(
    id: str,
    request: Request,
    engine: EngineDep,
    tail: Annotated[
        str, Query(pattern=r"^(all|\d{1,9})$", description="Last N lines, or `all`")
    ] = "all",
    since: Annotated[str | None, Query(description="Unix seconds or RFC 3339")] = None,
    until: Annotated[str | None, Query(description="Unix seconds or RFC 3339")] = None,
    timestamps: bool = False,
    stdout: bool = True,
    stderr: bool = True,
) -> StreamingResponse:
    """Container log history (`Accept: application/x-ndjson` for `{stream, ts, line}`)."""
    ndjson = _wants_ndjson(request)
    params = logs_params(
        tail=tail,
        since=engine_time(since),
        until=engine_time(until),
        stdout=stdout,
        stderr=stderr,
        timestamps=True,
    )
    tty = bool((await _container(engine, id)).get("Config", {}).get("Tty"))
    if tty and not ndjson:
        # A TTY body is raw text: ask for timestamps only when they are to be shown.
        params["timestamps"] = timestamps
    response, stack = await _open_logs(engine, id, params)
    chunks = response.content.iter_any()
    if ndjson:
        body = _ndjson(iter_log_batches(chunks, tty=tty))
        return EngineBodyResponse(body, close=stack.aclose, media_type=NDJSON)
    text = iter_log_text(chunks, tty=tty, timestamps=timestamps)
    return EngineBodyResponse(text, close=stack.aclose, media_type="text/plain; charset=utf-8")


@router.get("/{id}/health", responses=_CONTAINER)
async def containers_health(id: str, engine: EngineDep) -> HealthReport:
    """The container's health check state; `none` without a health check."""
    return health_report(await _container(engine, id))


@router.get("/{id}/stats", responses=_CONTAINER)
async def containers_stats(
    id: str,
    engine: EngineDep,
    one_shot: Annotated[
        bool,
        Query(description="Answer at once; `cpu_percent` is then often 0 (it needs two samples)"),
    ] = False,
) -> StatsSample:
    """One stats sample, as `docker stats --no-stream` (zeros for a stopped container).

    The engine takes about a second to fill in the previous CPU sample that
    `cpu_percent` is computed from; `one_shot=true` answers at once without it.
    """
    doc: dict[str, Any] = await engine.json(
        "GET",
        f"containers/{check_ref(id)}/stats",
        params={"stream": False, "one-shot": one_shot or None},
        long=True,
        kind="container",
        ref=id,
    )
    return compute_sample(doc, container_id=id)


@router.get(
    "/{id}/top",
    responses=errors.problem_responses(errors.ContainerNotFound, errors.ContainerNotRunning),
)
async def containers_top(
    id: str,
    engine: EngineDep,
    ps_args: Annotated[
        str | None,
        Query(max_length=256, pattern=r"^[A-Za-z0-9 ,=_%+-]*$", description="`ps` options"),
    ] = None,
) -> ProcessTable:
    """The container's processes, as `docker top`."""
    doc: dict[str, Any] = await engine.json(
        "GET",
        f"containers/{check_ref(id)}/top",
        params={"ps_args": ps_args or None},
        kind="container",
        ref=id,
    )
    return ProcessTable(titles=doc.get("Titles") or [], processes=doc.get("Processes") or [])


@router.get(
    "/{id}/archive",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "A tar of the path; its stat in `X-Moorage-Path-Stat` (JSON). "
            "Sent as `application/x-tar` unless the client accepts only "
            "`application/octet-stream`",
            "content": {"application/octet-stream": BINARY, TAR: BINARY},
            "headers": {
                "X-Moorage-Path-Stat": {
                    "description": "The path's stat, as JSON (`PathStat`)",
                    "schema": {"type": "string"},
                }
            },
        },
        **errors.problem_responses(errors.ContainerNotFound, errors.NotFound),
    },
)
async def containers_archive_get(
    id: str, request: Request, engine: EngineDep, path: Annotated[str, Query(max_length=4096)]
) -> StreamingResponse:
    """Copy a path out of the container, as a tar (`docker cp` out)."""
    response, stack = await _open(
        engine,
        "GET",
        f"containers/{check_ref(id)}/archive",
        params={"path": check_container_path(path)},
        long=True,
    )
    try:
        stat = PathStat.from_header(response.headers.get("X-Docker-Container-Path-Stat"))
    except errors.ProblemError:
        await stack.aclose()
        raise
    headers = {}
    if stat is not None:
        safe = "".join(
            c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in stat.name
        )
        headers["X-Moorage-Path-Stat"] = stat.header()
        headers["Content-Disposition"] = f'attachment; filename="{safe or "archive"}.tar"'
    body = response.content.iter_chunked(64 << 10)
    return EngineBodyResponse(
        body, close=stack.aclose, media_type=tar_media_type(request), headers=headers
    )


@router.get(
    "/{id}/archive/stat",
    responses=errors.problem_responses(errors.ContainerNotFound, errors.NotFound),
)
async def containers_archive_stat(
    id: str, engine: EngineDep, path: Annotated[str, Query(max_length=4096)]
) -> PathStat:
    """Stat a path in the container (no archive is made)."""
    return await archive.stat_path(engine, check_ref(id), check_container_path(path))


@router.put(
    "/{id}/archive",
    status_code=204,
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A tar archive (gzip, bzip2, xz or zstd compressed too); "
            "sent as `application/octet-stream` or `application/x-tar`",
            # One binary type in the spec, so that generators handle it (API.md).
            "content": {OCTET: BINARY},
        }
    },
    responses=errors.problem_responses(
        errors.BadRequest,
        errors.ContainerNotFound,
        errors.NotFound,
        errors.Conflict,
        errors.PayloadTooLarge,
    ),
)
async def containers_archive_put(
    id: str,
    request: Request,
    engine: EngineDep,
    path: Annotated[str, Query(max_length=4096, description="Directory to extract into")],
    no_overwrite_dir_non_dir: bool = False,
    copy_uid_gid: bool = False,
) -> Response:
    """Extract a tar into a directory of the container (`docker cp` in)."""
    await archive.put_archive(
        engine,
        check_ref(id),
        check_container_path(path),
        request.stream(),
        no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
        copy_uid_gid=copy_uid_gid,
    )
    return Response(status_code=204)
