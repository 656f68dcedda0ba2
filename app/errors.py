"""Errors, as RFC 9457 problem documents.

    ProblemError                 every error a route can answer; carries status and code
    ├── BadRequest               400 bad-request
    ├── Unauthorized             401 unauthorized
    ├── Forbidden                403 forbidden
    │   ├── CsrfRefused          403 forbidden (audited as `csrf`)
    │   ├── OriginRefused        403 forbidden (audited as `origin`): a WebSocket from elsewhere
    │   ├── PolicyViolation      403 policy-violation
    │   └── RegistryDenied       403 registry-denied
    ├── NotFound                 404 not-found
    │   ├── ContainerNotFound    404 container-not-found
    │   ├── ImageNotFound        404 image-not-found
    │   ├── VolumeNotFound       404 volume-not-found
    │   ├── NetworkNotFound      404 network-not-found
    │   ├── ExecNotFound         404 exec-not-found
    │   ├── HostNotFound         404 host-not-found: no host of that name (`?host=`)
    │   ├── ServiceNotFound      404 service-not-found (Swarm)
    │   ├── TaskNotFound         404 task-not-found
    │   ├── NodeNotFound         404 node-not-found
    │   ├── SecretNotFound       404 secret-not-found
    │   └── ConfigNotFound       404 config-not-found
    ├── MethodNotAllowed         405 method-not-allowed
    ├── RequestTimeout           408 request-timeout: the body did not arrive in time
    ├── Conflict                 409 conflict
    │   ├── NameInUse            409 name-in-use
    │   ├── ContainerNotRunning  409 container-not-running
    │   ├── ContainerRunning     409 container-running
    │   ├── InUse                409 in-use
    │   ├── AmbiguousId          409 ambiguous-id: a short id that matches several
    │   └── NotASwarmManager     409 not-a-swarm-manager
    ├── PayloadTooLarge          413 payload-too-large
    ├── UnsupportedMediaType     415 unsupported-media-type
    ├── ValidationFailed         422 validation-error (errors: [{loc, msg}])
    ├── ContainerError           422 container-error (exit_status, stderr)
    ├── BuildFailed              422 build-failed (log)
    ├── EngineError              502 engine-error
    │   └── RegistryUnreachable  502 registry-unreachable: a pull/push cannot reach it
    ├── ClientGone               499 client-gone: the client left before the answer (audit)
    ├── EngineUnavailable        503 engine-unavailable (Retry-After)
    │   └── HostUnavailable      503 host-unavailable (Retry-After): a host known down or disabled
    ├── ShuttingDown             503 shutting-down (Retry-After): cut by the end of a shutdown
    └── Timeout                  504 timeout

One renderer (`problem_response`) turns them into `application/problem+json`, and
`problem_responses(...)` documents them in OpenAPI from the same classes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("moorage.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ValidationItem(BaseModel):
    loc: list[str | int] = Field(description="Where: `body`/`query`/`path`, then the field path")
    msg: str
    type: str | None = Field(default=None, description="pydantic's error type, when it has one")


class Problem(BaseModel):
    """An RFC 9457 problem document. `code` is stable: branch on it, not on `title`."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["/problems/container-not-found"])
    title: str = Field(examples=["Container not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["No container named 'web-1'"])
    instance: str = Field(examples=["/v1/containers/web-1"])
    # The spec lists every code that exists (app/openapi.py, from the classes below).
    code: str = Field(examples=["container-not-found"])
    # Present only on the problems that carry them: absent, never null.
    errors: list[ValidationItem] | SkipJsonSchema[None] = Field(
        default=None, description="`validation-error`: each field that is wrong"
    )
    exit_status: int | SkipJsonSchema[None] = Field(
        default=None, description="`container-error`: the container's exit code"
    )
    stderr: str | SkipJsonSchema[None] = Field(
        default=None, description="`container-error`: the end of its stderr"
    )
    log: str | SkipJsonSchema[None] = Field(
        default=None, description="`build-failed`: the build output up to the failing step"
    )


class ProblemError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"
    # What the audit log records as the reason of a refusal (default: the code).
    audit_reason: ClassVar[str | None] = None

    def __init__(
        self,
        detail: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = dict(headers or {})
        self.extra = extra

    def to_problem(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            "code": self.code,
        }
        body.update(self.extra)
        return body


class BadRequest(ProblemError):
    status, code, title = 400, "bad-request", "Bad request"


class Unauthorized(ProblemError):
    status, code, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **extra)


class Forbidden(ProblemError):
    status, code, title = 403, "forbidden", "Forbidden"


class CsrfRefused(Forbidden):
    """A change by session cookie without its CSRF token: the same problem to the
    caller, told apart in the audit log (`reason`)."""

    audit_reason = "csrf"


class OriginRefused(Forbidden):
    """A WebSocket handshake from a page of another origin (cross-site WebSocket
    hijacking): told apart in the audit log (`reason`)."""

    audit_reason = "origin"


class PolicyViolation(Forbidden):
    code, title = "policy-violation", "Refused by policy"


class RegistryDenied(Forbidden):
    code, title = "registry-denied", "Registry refused the credentials"


class NotFound(ProblemError):
    status, code, title = 404, "not-found", "Not found"


class ContainerNotFound(NotFound):
    code, title = "container-not-found", "Container not found"


class ImageNotFound(NotFound):
    code, title = "image-not-found", "Image not found"


class VolumeNotFound(NotFound):
    code, title = "volume-not-found", "Volume not found"


class NetworkNotFound(NotFound):
    code, title = "network-not-found", "Network not found"


class ExecNotFound(NotFound):
    code, title = "exec-not-found", "Exec instance not found"


class HostNotFound(NotFound):
    code, title = "host-not-found", "Host not found"


class ServiceNotFound(NotFound):
    code, title = "service-not-found", "Service not found"


class TaskNotFound(NotFound):
    code, title = "task-not-found", "Task not found"


class NodeNotFound(NotFound):
    code, title = "node-not-found", "Node not found"


class SecretNotFound(NotFound):
    code, title = "secret-not-found", "Secret not found"


class ConfigNotFound(NotFound):
    code, title = "config-not-found", "Config not found"


class MethodNotAllowed(ProblemError):
    status, code, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(ProblemError):
    status, code, title = 409, "conflict", "Conflict"


class NameInUse(Conflict):
    code, title = "name-in-use", "Name already in use"


class ContainerNotRunning(Conflict):
    code, title = "container-not-running", "Container is not running"


class ContainerRunning(Conflict):
    code, title = "container-running", "Container is running"


class InUse(Conflict):
    code, title = "in-use", "Resource is in use"


class AmbiguousId(Conflict):
    code, title = "ambiguous-id", "The short id matches several objects"


class NotASwarmManager(Conflict):
    code, title = "not-a-swarm-manager", "This engine is not a swarm manager"


class RequestTimeout(ProblemError):
    status, code, title = 408, "request-timeout", "The request body did not arrive in time"


class PayloadTooLarge(ProblemError):
    status, code, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(ProblemError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(ProblemError):
    status, code, title = 422, "validation-error", "Request is not valid"

    def __init__(self, errors: Sequence[Mapping[str, Any]], detail: str = "") -> None:
        items: list[dict[str, Any]] = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in errors
        ]
        if not detail:
            detail = "; ".join(
                f"{'.'.join(str(p) for p in i['loc'])}: {i['msg']}" for i in items[:5]
            )
        super().__init__(detail, errors=items)

    @classmethod
    def field(cls, loc: Sequence[str | int], msg: str) -> ValidationFailed:
        return cls([{"loc": list(loc), "msg": msg, "type": "value_error"}])


class ContainerError(ProblemError):
    status, code, title = 422, "container-error", "Container exited with a non-zero status"


class BuildFailed(ProblemError):
    status, code, title = 422, "build-failed", "Build failed"


class EngineError(ProblemError):
    status, code, title = 502, "engine-error", "The engine failed"


class RegistryUnreachable(EngineError):
    status, code, title = 502, "registry-unreachable", "The registry cannot be reached"


class ClientGone(ProblemError):
    """The client went away before its answer was ready (nginx's 499). Nobody reads it;
    it is what the audit log and metrics record for the request."""

    status, code, title = 499, "client-gone", "The client went away"


class EngineUnavailable(ProblemError):
    status, code, title = 503, "engine-unavailable", "The engine cannot be reached"

    def __init__(self, detail: str = "", retry_after: int = 5, **extra: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, **extra)


class HostUnavailable(EngineUnavailable):
    """A host moorage knows is down (or disabled): answered at once, no engine asked."""

    code, title = "host-unavailable", "The host is unavailable"


class ShuttingDown(ProblemError):
    status, code, title = 503, "shutting-down", "The service is shutting down"

    def __init__(self, detail: str = "", retry_after: int = 5, **extra: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, **extra)


class Timeout(ProblemError):
    status, code, title = 504, "timeout", "Timed out"


_BY_STATUS: dict[int, type[ProblemError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    408: RequestTimeout,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    502: EngineError,
    503: EngineUnavailable,
    504: Timeout,
}


def problem_response(request: Request, exc: ProblemError) -> JSONResponse:
    """The one renderer of every error. The request keeps the problem it was answered
    with (`request.state.problem`): the audit log records why a change failed."""
    request.state.problem = exc
    return JSONResponse(
        exc.to_problem(request.url.path),
        status_code=exc.status,
        headers=exc.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


PROBLEM_CODES_KEY = "x-moorage-codes"


def problem_responses(*classes: type[ProblemError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route, from the error classes it can raise.

    Every route also gets 400 (malformed JSON), 408 (a body too slow), 409
    `ambiguous-id` (a short id, in the path, body or a filter, that matches several
    objects), 413 (body over the limit), 422 (validation), 502, 503 and 504, since any
    of them can happen on any call; 401 and 403 are added by app/openapi.py from the
    route's security. Each
    status lists its codes under `x-moorage-codes`; app/openapi.py turns the entries
    into references to the shared `components.responses` (one per status) and the
    codes into the operation's `x-moorage-problems`.
    """
    by_status: dict[int, list[type[ProblemError]]] = {}
    every: list[type[ProblemError]] = [
        *classes,
        BadRequest,
        AmbiguousId,
        RequestTimeout,
        PayloadTooLarge,
        ValidationFailed,
        EngineError,
        EngineUnavailable,
        Timeout,
    ]
    for cls in every:
        by_status.setdefault(cls.status, [])
        if cls not in by_status[cls.status]:
            by_status[cls.status].append(cls)
    out: dict[int | str, dict[str, Any]] = {}
    for status, group in sorted(by_status.items()):
        out[status] = {
            "model": Problem,
            "description": problem_description(group),
            PROBLEM_CODES_KEY: [c.code for c in group],
        }
    return out


def problem_description(group: Sequence[type[ProblemError]]) -> str:
    codes = ", ".join(f"`{c.code}`" for c in group)
    return f"{group[0].title if len(group) == 1 else 'Problem'} ({codes})"


def problem_classes() -> list[type[ProblemError]]:
    """Every error class that exists (defined anywhere, once imported), by status, code."""
    seen: dict[str, type[ProblemError]] = {ProblemError.code: ProblemError}
    todo = list(ProblemError.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        seen.setdefault(cls.code, cls)
    return sorted(seen.values(), key=lambda c: (c.status, c.code))


def _validation_items(errors: Iterable[Any]) -> list[dict[str, Any]]:
    items = []
    for e in errors:
        loc = [p for p in e.get("loc", ()) if p != "body" or len(e.get("loc", ())) == 1]
        msg = str(e.get("msg", ""))
        if e.get("type") == "extra_forbidden":
            msg = f"unknown field '{loc[-1]}'" if loc else "unknown field"
        elif e.get("type") == "json_invalid":
            msg = f"malformed JSON: {e.get('ctx', {}).get('error', msg)}"
        items.append({"loc": loc, "msg": msg, "type": e.get("type")})
    return items


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(request, exc)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = _validation_items(exc.errors())
    if any(i["type"] == "json_invalid" for i in items):
        bad = BadRequest(next(i["msg"] for i in items if i["type"] == "json_invalid"))
        return problem_response(request, bad)
    return problem_response(request, ValidationFailed(items))


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, ProblemError):
        # FastAPI turns any failure while it reads a body into 400 "error parsing the
        # body"; one of ours (a body too large or too slow: app/middleware.py) is itself.
        return problem_response(request, exc.__cause__)
    cls = _BY_STATUS.get(exc.status_code, ProblemError)
    detail = exc.detail if isinstance(exc.detail, str) else ""
    if cls is ValidationFailed:
        err: ProblemError = ValidationFailed([], detail=detail)
    elif cls is NotFound and detail == "Not Found":
        err = NotFound(f"No route {request.method} {request.url.path}")
    elif cls is MethodNotAllowed:
        err = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
    else:
        err = cls(detail)
    response = problem_response(request, err)
    if cls is ProblemError:
        response.status_code = exc.status_code
    for k, v in (exc.headers or {}).items():
        response.headers[k] = v
    return response


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The last net: a bug must still answer a problem document, never a traceback.
    # (A WebSocket handshake has no method.)
    method = request.scope.get("method", "WEBSOCKET")
    log.exception("unhandled error on %s %s", method, request.url.path)
    err = ProblemError(f"Unexpected error ({type(exc).__name__}); see the service log")
    return problem_response(request, err)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_unexpected)
