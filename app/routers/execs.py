"""Exec routes: run a command in a container, read an exec's state."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse

from app import audit, errors
from app.engine import EngineDep
from app.models.common import check_ref
from app.models.events import ExecChunk, ExecExit
from app.models.execs import ExecDemuxOutput, ExecOutput, ExecSpec, ExecStarted, ExecState
from app.models.terminals import TerminalCreated
from app.routers.streams import SettingsDep
from app.routers.terminals import FRAMES as TERMINAL_FRAMES
from app.routers.terminals import TerminalsDep
from app.services import execs
from app.services.terminals import TooManyTerminals
from app.streams import accepts_sse, sse_doc, sse_response

router = APIRouter(tags=["execs"])

_EXEC_ID = re.compile(r"^[0-9a-fA-F]{1,64}$")

_EXEC_DOC = """\
retry: 3000

event: stdout
data: {"data": "hello\\n"}

event: stderr
data: {"data": "oops\\n"}

event: exit
data: {"exit_code": 1}
"""
_SSE_200 = sse_doc(
    "The attached result (JSON); or, with `Accept: text/event-stream`, the output as it "
    'comes: `event: stdout` / `event: stderr` `{"data": text}`, last `event: exit` '
    '`{"exit_code": N}` (`event: error` with a problem document on failure)',
    _EXEC_DOC,
    events={"stdout": ExecChunk, "stderr": ExecChunk, "exit": ExecExit},
)


@router.post(
    "/v1/containers/{id}/exec",
    # Declared, so that the spec's 200 is the attached result only (202 is below).
    response_model=ExecOutput | ExecDemuxOutput,
    responses={
        **_SSE_200,
        202: {"model": ExecStarted, "description": "Started detached (`detach: true`)"},
        201: {
            "model": TerminalCreated,
            "description": "An interactive exec (`interactive: true`), created: open the "
            "WebSocket `ws` (`GET /v1/execs/{exec_id}/ws`) to start it. " + TERMINAL_FRAMES,
        },
        **errors.problem_responses(
            errors.ContainerNotFound,
            errors.ContainerNotRunning,
            errors.Conflict,
            TooManyTerminals,
        ),
    },
)
async def containers_exec(
    id: str,
    spec: ExecSpec,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    terminals: TerminalsDep,
) -> ExecOutput | ExecDemuxOutput | JSONResponse | EventSourceResponse:
    """Run a command in a running container; its exit code and output (or SSE)."""
    if spec.interactive:
        host = request.query_params.get("host")  # checked by EngineDep's `host`
        created = await terminals.open_exec(engine, check_ref(id), spec, host)
        return JSONResponse(created.model_dump(), status_code=201)
    exec_id = await execs.exec_create(engine, check_ref(id), spec)
    if spec.detach:
        await execs.exec_start_detached(engine, exec_id, tty=spec.tty)
        return JSONResponse(ExecStarted(exec_id=exec_id).model_dump(), status_code=202)
    output = execs.exec_attached(engine, exec_id, tty=spec.tty)
    if accepts_sse(request):
        body = audit.stream_outcome(request, execs.exec_events(output))
        return sse_response(body, settings, request)
    return await execs.collect(output, demux=spec.demux)


@router.get("/v1/execs/{exec_id}", responses=errors.problem_responses(errors.ExecNotFound))
async def execs_get(exec_id: str, engine: EngineDep) -> ExecState:
    """An exec instance's state: running, exit code, pid."""
    if not _EXEC_ID.match(exec_id):
        raise errors.ValidationFailed.field(["path", "exec_id"], "an exec id is 1 to 64 hex digits")
    return await execs.exec_state(engine, exec_id)
