"""Interactive terminals: the WebSocket routes, and resize over HTTP.

The WebSocket routes are not in the OpenAPI document (it has no WebSockets); they
are described on `POST /v1/containers/{id}/exec` (its 201) and in the spec's
`x-moorage-websockets` (app/openapi.py picks up `WEBSOCKETS`).
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Response
from fastapi.requests import HTTPConnection
from starlette.websockets import WebSocket

from app import errors
from app.audit import Record
from app.engine import EngineDep
from app.models.common import check_ref
from app.models.terminals import TerminalSize
from app.security import Identity
from app.services.terminals import (
    Terminal,
    TerminalNotFound,
    Terminals,
    TooManyTerminals,
)

log = logging.getLogger("moorage.terminals")

router = APIRouter(tags=["terminals"])

_EXEC_ID = re.compile(r"^[0-9a-fA-F]{1,64}$")

FRAMES = (
    "Binary frames are bytes: client → stdin; server → output (without a TTY each "
    "output frame starts with a channel byte, 1 stdout or 2 stderr). Text frames are "
    'JSON control: client `{"type": "resize", "rows": R, "cols": C}`, `{"type": "eof"}` '
    '(close stdin), `{"type": "close"}` (end it); server `{"type": "ready", "tty", '
    '"channels"}` first, `{"type": "exit", "exit_code": N}` last, then close 1000. Close '
    "1000 ends the process; any other drop leaves MOORAGE_TERMINAL_REATTACH_GRACE "
    "seconds to reconnect, and the new socket first receives the last output again."
)
WEBSOCKETS: dict[str, Any] = {
    "/v1/execs/{exec_id}/ws": {
        "operationId": "execs_ws",
        "summary": "Run an interactive exec (from POST /v1/containers/{id}/exec, "
        "interactive: true) over a WebSocket; reattach to it",
        "description": FRAMES + " Query: `host`, the host the exec was created on (the "
        "`ws` path from the create carries it); the id names no exec on another host.",
        "x-moorage-role": "admin",
    },
    "/v1/containers/{id}/attach/ws": {
        "operationId": "containers_attach_ws",
        "summary": "Attach to a container's main process over a WebSocket",
        "description": FRAMES + " Query: `host` (as on every engine operation); `logs=true` "
        "sends the container's earlier output first; `rows`, `cols` size its TTY. Closing "
        "detaches (the container runs on).",
        "x-moorage-role": "admin",
    },
}


def document_websockets(app: FastAPI) -> None:
    """The WebSocket routes in the spec, as `x-moorage-websockets` (OpenAPI has none)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        spec = build()
        spec["x-moorage-websockets"] = WEBSOCKETS
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def get_terminals(conn: HTTPConnection) -> Terminals:
    terminals: Terminals = conn.app.state.terminals
    return terminals


TerminalsDep = Annotated[Terminals, Depends(get_terminals)]


def _actor(ws: WebSocket, action: str) -> Record:
    identity: Identity = ws.state.identity
    return Record(
        actor=identity.name,
        role=identity.role.name,
        action=action,
        target="",
        method="GET",
        path=ws.url.path,
        summary={},
        source=ws.client.host if ws.client else None,
    )


async def _run(ws: WebSocket, term: Terminal, action: str) -> None:
    # Errors before accept are answered by the app's problem handler as an HTTP
    # denial of the handshake; after it, as a close.
    await term.prepare(_actor(ws, action))
    await ws.accept()
    try:
        await term.serve(ws)
    except Exception:
        log.exception("terminal %s failed", term.key)
        await term.end("moorage error", 1011)


@router.websocket("/v1/execs/{exec_id}/ws")
async def execs_ws(
    websocket: WebSocket, exec_id: str, engine: EngineDep, terminals: TerminalsDep
) -> None:
    """Run (or reattach to) an interactive exec (on the host it was created on)."""
    if not _EXEC_ID.match(exec_id):
        raise TerminalNotFound(f"No terminal {exec_id!r}")
    await _run(websocket, terminals.get(exec_id, engine), "terminal_exec")


@router.websocket("/v1/containers/{id}/attach/ws")
async def containers_attach_ws(
    websocket: WebSocket,
    id: str,
    engine: EngineDep,
    terminals: TerminalsDep,
    logs: bool = False,
    rows: Annotated[int | None, Query(ge=1, le=1000)] = None,
    cols: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> None:
    """Attach to a container's main process."""
    size = (rows, cols) if rows and cols else None
    term = await terminals.open_attach(engine, check_ref(id), logs=logs, size=size)
    try:
        await _run(websocket, term, "terminal_attach")
    finally:
        if not term.ended:
            await term.end("client closed")


@router.post(
    "/v1/execs/{exec_id}/resize",
    status_code=204,
    responses=errors.problem_responses(errors.ExecNotFound, errors.Conflict),
)
async def execs_resize(
    exec_id: str, size: TerminalSize, engine: EngineDep, terminals: TerminalsDep
) -> Response:
    """Resize an exec's TTY (what the WebSocket's resize frame does)."""
    if not _EXEC_ID.match(exec_id):
        raise errors.ValidationFailed.field(["path", "exec_id"], "an exec id is 1 to 64 hex digits")
    await terminals.resize_exec(engine, exec_id, size.rows, size.cols)
    return Response(status_code=204)


@router.post(
    "/v1/containers/{id}/resize",
    status_code=204,
    responses=errors.problem_responses(errors.ContainerNotFound, errors.Conflict),
)
async def containers_resize(id: str, size: TerminalSize, engine: EngineDep) -> Response:
    """Resize a container's TTY (its main process, as an attach terminal sees it)."""
    ref = check_ref(id)
    await engine.json(
        "POST",
        f"containers/{ref}/resize",
        params={"h": size.rows, "w": size.cols},
        kind="container",
        ref=ref,
    )
    return Response(status_code=204)


__all__ = ["WEBSOCKETS", "TooManyTerminals", "router"]
