"""Auth routes: browser sessions and stream tickets; the audit log."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from app import errors
from app.audit import AuditBackend, AuditEntry, AuditUnavailable, Outcome
from app.models.common import RequestBody
from app.security import (
    CSRF_HEADER,
    SESSION_COOKIE,
    IdentityDep,
    Security,
    normalise_ticket_path,
)

router = APIRouter(tags=["auth"])


class SessionInfo(BaseModel):
    name: str
    role: str
    expires: str = Field(description="RFC 3339")
    csrf_token: str = Field(description=f"Send it as {CSRF_HEADER} on every change")


class WhoAmI(BaseModel):
    name: str
    role: str = Field(description="viewer, operator or admin")
    via: str = Field(description="token, session, ticket, loopback or insecure")
    auth_required: bool = Field(description="False when no tokens are configured")
    csrf_token: str | None = Field(
        default=None,
        description=f"With a session cookie: send it as {CSRF_HEADER} on every change",
    )


class TicketRequest(RequestBody):
    path: str | None = Field(
        default=None, description="Only streams under this path (e.g. /v1/containers/web-1)"
    )


class TicketInfo(BaseModel):
    ticket: str = Field(description="Pass as ?ticket= on one stream; single use")
    expires: str = Field(description="RFC 3339")
    path: str | None = None
    role: str


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _security(request: Request) -> Security:
    security: Security = request.app.state.security
    return security


@router.post(
    "/v1/auth/session",
    status_code=201,
    responses=errors.problem_responses(errors.Unauthorized, errors.Forbidden),
)
async def auth_session_create(
    identity: IdentityDep, request: Request, response: Response
) -> SessionInfo:
    """Open a browser session: an HttpOnly, SameSite=Strict cookie (send a token)."""
    if identity.via in ("session", "ticket"):
        raise errors.Forbidden("A session is opened with a token, not with a session")
    security = _security(request)
    value, session = await security.sessions.create(identity)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(security.sessions.ttl),
        path="/",
        httponly=True,
        samesite="strict",
        secure=security.settings.session_secure_cookie,
    )
    return SessionInfo(
        name=identity.name,
        role=identity.role.name,
        expires=_rfc3339(session.expires),
        csrf_token=session.csrf,
    )


@router.delete(
    "/v1/auth/session",
    status_code=204,
    responses=errors.problem_responses(errors.Unauthorized),
)
async def auth_session_delete(identity: IdentityDep, request: Request) -> Response:
    """Close the browser session (forget it and clear the cookie)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is not None:
        await _security(request).sessions.delete(cookie)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/v1/auth/whoami", responses=errors.problem_responses(errors.Unauthorized))
async def auth_whoami(identity: IdentityDep, request: Request) -> WhoAmI:
    """Who the caller is and their role (a dashboard offers only what that role may do)."""
    security = _security(request)
    csrf = None
    if identity.via == "session" and identity.session is not None:
        # The cookie is HttpOnly: a reloaded page learns its CSRF token here. Only a
        # same-origin page can read this answer (no CORS for it unless configured).
        session = await security.sessions.get(identity.session)
        csrf = session.csrf if session is not None else None
    return WhoAmI(
        name=identity.name,
        role=identity.role.name,
        via=identity.via,
        auth_required=security.enabled,
        csrf_token=csrf,
    )


@router.post(
    "/v1/auth/tickets",
    status_code=201,
    responses=errors.problem_responses(errors.Unauthorized, errors.Forbidden),
)
async def auth_tickets_create(
    identity: IdentityDep, request: Request, body: TicketRequest | None = None
) -> TicketInfo:
    """A short-lived ticket good for one stream (`?ticket=`), with the caller's role."""
    path = normalise_ticket_path(body.path) if body and body.path else None
    value, expires = await _security(request).tickets.issue(identity, path)
    return TicketInfo(ticket=value, expires=_rfc3339(expires), path=path, role=identity.role.name)


def _when(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise errors.ValidationFailed.field(["query", name], "a finite number of seconds")
        return seconds
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise errors.ValidationFailed.field(
            ["query", name], "an RFC 3339 time or Unix seconds"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@router.get(
    "/v1/audit",
    responses=errors.problem_responses(errors.Unauthorized, errors.Forbidden, AuditUnavailable),
)
async def audit_list(
    request: Request,
    response: Response,
    actor: str | None = None,
    action: Annotated[str | None, Query(description="operationId, e.g. containers_create")] = None,
    target: str | None = None,
    since: Annotated[str | None, Query(description="RFC 3339 or Unix seconds")] = None,
    until: Annotated[str | None, Query(description="RFC 3339 or Unix seconds")] = None,
    before: Annotated[
        # A row id is a 64-bit integer (SQLite, PostgreSQL BIGSERIAL).
        int | None, Query(ge=1, le=2**63 - 1, description="Rows older than this id")
    ] = None,
    outcome: Annotated[
        Outcome | None,
        Query(description="`refused`: changes refused for credentials, role, CSRF or policy"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntry]:
    """The audit log, newest first; page with `before` (the `Link: rel=next` header)."""
    store: AuditBackend = request.app.state.audit
    try:
        rows = await store.query(
            actor=actor,
            action=action,
            target=target,
            since=_when(since, "since"),
            until=_when(until, "until"),
            before=before,
            outcome=outcome,
            limit=limit,
        )
    except errors.ProblemError:
        raise
    except Exception as exc:
        raise AuditUnavailable(f"The audit log cannot be read: {exc}") from exc
    if len(rows) == limit:
        nxt = request.url.include_query_params(before=rows[-1].id)
        response.headers["Link"] = f'<{nxt.path}?{nxt.query}>; rel="next"'
    return rows
