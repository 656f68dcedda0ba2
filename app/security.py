"""Who may do what: tokens, roles, the route → role table, tickets, sessions.

    Identity   from `Authorization: Bearer`, a stream `?ticket=`, or the session cookie
    ROLES      operationId → the least role that may call it (the ONE table)
    authorize  the app-wide dependency: authenticates, checks the role, opens the
               audit record of a change (app/audit.py) before the route runs
    AuthenticateFirst  the same check for a change, from its headers, before its body
               is read (a refusal reads nothing)

Redaction of what is written down (audit summaries, logs) is app/redaction.py.

Routes are found by their operationId (`route.name`), so a router written anywhere
gets the check without knowing about it; a route missing from `ROLES` is admin-only
(fail closed), and tests/test_security_routes.py walks every route of the app.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.requests import HTTPConnection
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import errors
from app.settings import Settings

log = logging.getLogger("moorage.security")


class Role(IntEnum):
    viewer = 1
    operator = 2
    admin = 3


V, OP, A = Role.viewer, Role.operator, Role.admin

# operationId → the least role that may call it. viewer: reads and streams;
# operator: + lifecycle actions, pull, tag, volume and network changes; admin: + exec,
# create, run, build, push, load, prune, archive (both ways), the audit log.
ROLES: dict[str, Role] = {
    # system
    "system_ping": V,
    "system_version": V,
    "system_info": V,
    "system_df": V,
    "system_events": V,
    "events_stream": V,
    "metrics": V,
    "hosts_list": V,
    "hosts_get": V,
    "hosts_create": A,
    "hosts_update": A,
    "hosts_delete": A,
    # containers: reads and streams
    "containers_list": V,
    "containers_get": V,
    "containers_logs": V,
    "containers_logs_stream": V,
    "containers_health": V,
    "containers_health_stream": V,
    "containers_stats": V,
    "containers_stats_stream": V,
    "containers_top": V,
    "containers_wait": V,  # waits, changes nothing
    "health_stream": V,
    "stats_stream": V,
    "execs_get": V,
    "_bad_container_ref": V,  # answers 422 to an id with an encoded slash, nothing else
    # containers: lifecycle
    "containers_start": OP,
    "containers_stop": OP,
    "containers_restart": OP,
    "containers_kill": OP,
    "containers_pause": OP,
    "containers_unpause": OP,
    "containers_delete": OP,
    "containers_update": OP,  # rename, limits, restart policy; the policy checks it
    # containers: what can reach the host or read its files
    "containers_create": A,
    "containers_run": A,
    "containers_exec": A,
    "containers_attach_ws": A,  # WebSocket: the container's main process
    "containers_resize": A,
    "execs_ws": A,  # WebSocket: an interactive exec
    "execs_resize": A,
    "containers_archive_get": A,
    "containers_archive_put": A,
    "containers_archive_stat": A,
    "containers_prune": A,
    "containers_changes": V,  # paths only, no content
    "containers_image_update": V,  # a registry lookup; credentials only for that call
    "containers_commit": A,  # an image of everything in the container
    "containers_export": A,  # reads every file
    "containers_recreate": A,  # creates a container (on another image when asked)
    # images
    "images_list": V,
    "images_get": V,
    "images_history": V,
    "images_pull": OP,
    # a registry lookup: the engine connects wherever the reference says, as a pull does
    "images_distribution": OP,
    "images_tag": OP,
    "images_delete": OP,
    "images_build": A,
    "images_push": A,
    "images_load": A,
    "images_export": A,
    "images_prune": A,
    "images_search": OP,  # pull-like: the engine asks a registry
    "images_prune_builds": A,
    "system_auth": OP,  # checks credentials against a registry, stores nothing
    # volumes
    "volumes_list": V,
    "volumes_get": V,
    "volumes_create": OP,
    "volumes_delete": OP,
    "volumes_prune": A,
    # networks
    "networks_list": V,
    "networks_get": V,
    "networks_create": OP,
    "networks_delete": OP,
    "networks_connect": OP,
    "networks_disconnect": OP,
    "networks_prune": A,
    # swarm: viewers read; operators scale, roll back and redeploy; admins the rest
    "swarm_get": V,
    "swarm_init": A,
    "swarm_join": A,
    "swarm_leave": A,
    "swarm_join_tokens": A,  # a token is a key to the cluster
    "nodes_list": V,
    "nodes_get": V,
    "nodes_update": A,
    "nodes_delete": A,
    "services_list": V,
    "services_get": V,
    "services_logs": V,
    "services_logs_stream": V,
    "services_create": A,
    "services_update": A,
    "services_delete": A,
    "services_scale": OP,
    "services_rollback": OP,
    "services_redeploy": OP,
    "tasks_list": V,
    "tasks_get": V,
    "tasks_logs": V,
    "secrets_list": V,
    "secrets_get": V,  # never the data
    "secrets_create": A,
    "secrets_delete": A,
    "configs_list": V,
    "configs_get": V,
    "configs_create": A,
    "configs_delete": A,
    # auth: any valid identity
    "auth_session_create": V,
    "auth_session_delete": V,
    "auth_tickets_create": V,
    "auth_whoami": V,
    "audit_list": A,
    # notifications (admin: rules hold webhook secrets, deliveries hold log lines)
    "alerts_rules_list": A,
    "alerts_rules_get": A,
    "alerts_rules_create": A,
    "alerts_rules_update": A,
    "alerts_rules_delete": A,
    "alerts_rules_test": A,
    "alerts_deliveries_list": A,
    "alerts_stream": A,
}

# Routes anyone may call (probes). The docs and /openapi.json are not API routes.
PUBLIC: frozenset[str] = frozenset({"healthz", "readyz"})

SESSION_COOKIE = "moorage_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_PREFIX = "mrg_"


def required_role(operation_id: str) -> Role:
    """The least role for an operation; unknown operations are admin-only."""
    return ROLES.get(operation_id, Role.admin)


def is_stream(operation_id: str) -> bool:
    """Streams (SSE, and the terminals' WebSockets) are what a ticket may open."""
    return operation_id.endswith(("_stream", "_ws")) or operation_id == "system_events"


# -- identities and tokens -------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    name: str
    role: Role
    via: Literal["token", "session", "ticket", "loopback", "insecure", "public"]
    session: str | None = None
    # The hosts it may use (glob patterns, a token's `hosts`); None: every host.
    hosts: tuple[str, ...] | None = None

    def may_use_host(self, name: str) -> bool:
        return self.hosts is None or any(fnmatch.fnmatchcase(name, g) for g in self.hosts)


class TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    role: Literal["viewer", "operator", "admin"]
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    expires: datetime | None = None
    hosts: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        default=None,
        description="Glob patterns of the hosts it may use (`edge-*`); absent: every host",
    )

    @property
    def level(self) -> Role:
        return Role[self.role]

    def expired(self, now: datetime) -> bool:
        if self.expires is None:
            return False
        exp = self.expires if self.expires.tzinfo else self.expires.replace(tzinfo=UTC)
        return now >= exp


class TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[TokenEntry] = Field(default_factory=list)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def load_tokens(path: Path | None) -> list[TokenEntry]:
    if path is None:
        return []
    with path.open("rb") as f:
        doc = tomllib.load(f)
    entries = TokensFile.model_validate(doc).tokens
    names = [e.name for e in entries]
    if len(names) != len(set(names)):
        raise ValueError(f"{path}: token names must be unique")
    return entries


@functools.lru_cache(maxsize=1024)  # asked on every request, for a few client hosts
def is_loopback(host: str | None) -> bool:
    if host is None or host == "testclient":  # a unix socket; Starlette's TestClient
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return host == "localhost"


# -- tickets and sessions ---------------------------------------------------------------


@dataclass
class Session:
    identity: Identity
    csrf: str
    expires: float


class StateStore(Protocol):
    """Where tickets and sessions live: the audit database, shared by every worker
    process (SQLite) or replica (PostgreSQL); see app/audit.py."""

    async def state_put(self, key: str, payload: dict[str, Any], expires: float) -> None: ...
    async def state_get(self, key: str) -> dict[str, Any] | None: ...
    async def state_take(self, key: str) -> dict[str, Any] | None: ...
    async def state_delete(self, key: str) -> None: ...


class _Stored:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.store: StateStore | None = None

    def _store(self) -> StateStore:
        if self.store is None:
            raise errors.ProblemError("The session store is not open")
        return self.store


class Tickets(_Stored):
    """Short-lived, single-use stream tickets. Only their hash is stored."""

    async def issue(self, identity: Identity, path: str | None) -> tuple[str, float]:
        value = "tkt_" + secrets.token_urlsafe(24)
        expires = time.time() + self.ttl
        payload = {
            "name": identity.name,
            "role": identity.role.name,
            "path": path,
            "hosts": identity.hosts,
        }
        await self._store().state_put("ticket:" + hash_token(value), payload, expires)
        return value, expires

    async def redeem(self, value: str, path: str) -> Identity | None:
        """The ticket's identity, once; None if unknown, used, expired or for elsewhere."""
        doc = await self._store().state_take("ticket:" + hash_token(value))
        if doc is None or float(doc["expires"]) <= time.time():
            return None
        scope = doc.get("path")
        if scope is not None and not _under(path, str(scope)):
            return None
        return Identity(str(doc["name"]), Role[str(doc["role"])], "ticket", hosts=_hosts(doc))


class Sessions(_Stored):
    """Browser sessions behind an HttpOnly cookie. Only the cookie's hash is stored."""

    async def create(self, identity: Identity) -> tuple[str, Session]:
        value = secrets.token_urlsafe(32)
        session = Session(identity, secrets.token_urlsafe(24), time.time() + self.ttl)
        payload = {
            "name": identity.name,
            "role": identity.role.name,
            "csrf": session.csrf,
            "hosts": identity.hosts,
        }
        await self._store().state_put("session:" + hash_token(value), payload, session.expires)
        return value, session

    async def get(self, value: str) -> Session | None:
        doc = await self._store().state_get("session:" + hash_token(value))
        if doc is None or float(doc["expires"]) <= time.time():
            return None
        identity = Identity(
            str(doc["name"]), Role[str(doc["role"])], "session", value, hosts=_hosts(doc)
        )
        return Session(identity, str(doc["csrf"]), float(doc["expires"]))

    async def delete(self, value: str) -> None:
        await self._store().state_delete("session:" + hash_token(value))


def _hosts(doc: dict[str, Any]) -> tuple[str, ...] | None:
    """The host scope a ticket or session carries from its token."""
    hosts = doc.get("hosts")
    return tuple(str(h) for h in hosts) if hosts is not None else None


def _loopback_name(host: str | None) -> bool:
    return host is not None and (host.lower() == "localhost" or is_loopback(host.strip("[]")))


def _under(path: str, prefix: str) -> bool:
    base = prefix.rstrip("/")
    return path == base or path.startswith(base + "/")


def normalise_ticket_path(path: str) -> str:
    """A ticket's scope: an absolute API path with no `.` / `..` / empty segments."""
    if not path.startswith("/v1/") and path != "/v1":
        raise errors.ValidationFailed.field(["path"], "must start with /v1/")
    segments = path.split("?", 1)[0].split("/")[1:]
    if any(s in (".", "..") for s in segments) or "//" in path:
        raise errors.ValidationFailed.field(["path"], "must not contain '.', '..' or '//'")
    return path.rstrip("/") or "/v1"


# -- the authenticator ------------------------------------------------------------------


class Security:
    """Everything the authorize dependency needs; one per app (`app.state.security`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tokens = load_tokens(settings.tokens_file)
        self.tickets = Tickets(settings.ticket_ttl)
        self.sessions = Sessions(settings.session_ttl)

    def attach(self, store: StateStore) -> None:
        """Keep tickets and sessions in the (shared) audit database."""
        self.tickets.store = store
        self.sessions.store = store

    @property
    def enabled(self) -> bool:
        return bool(self.tokens)

    def check_token(self, token: str) -> Identity | None:
        """The token's identity; compared in constant time against every entry."""
        digest = hashlib.sha256(token.encode()).hexdigest().encode()
        match: TokenEntry | None = None
        for entry in self.tokens:
            if hmac.compare_digest(digest, entry.sha256.lower().encode()):
                match = entry
        if match is None or match.expired(datetime.now(UTC)):
            return None
        hosts = tuple(match.hosts) if match.hosts is not None else None
        return Identity(match.name, match.level, "token", hosts=hosts)

    def check_websocket_origin(self, conn: HTTPConnection) -> None:
        """Cross-site WebSocket hijacking: browsers send cookies with a WebSocket
        handshake from any page, so an `Origin` other than moorage's own (the `Host`
        it was addressed by) or one of MOORAGE_CORS_ORIGINS is refused whatever the
        credentials. No `Origin`: not a browser."""
        origin = conn.headers.get("origin")
        if origin is None or origin in self.settings.cors_origins:
            return
        from urllib.parse import urlsplit

        host = conn.headers.get("host", "").lower()
        if origin != "null" and host and urlsplit(origin).netloc.lower() == host:
            return
        raise errors.OriginRefused(f"A WebSocket from origin {origin!r} is not allowed")

    def _refuse_foreign_browser(self, request: HTTPConnection) -> None:
        """Loopback mode trusts the machine, not every web page its browser opens.

        A page elsewhere can reach 127.0.0.1 through the browser (a cross-site form
        post, or DNS rebinding: its own name resolving to 127.0.0.1). Browsers mark
        their requests (`Origin`, `Sec-Fetch-Site`); such a request must name a
        loopback host and come from a loopback or configured origin.
        """
        origin = request.headers.get("origin")
        if origin is None and "sec-fetch-site" not in request.headers:
            return  # not a browser: curl, scripts, SDKs
        if not _loopback_name(request.url.hostname):
            raise errors.Forbidden("A browser request must address a loopback host name")
        if origin is not None and origin not in self.settings.cors_origins:
            from urllib.parse import urlsplit

            if origin == "null" or not _loopback_name(urlsplit(origin).hostname):
                raise errors.Forbidden(f"Requests from origin {origin!r} are not allowed")

    async def authenticate(self, request: HTTPConnection, operation_id: str) -> Identity:
        # A WebSocket handshake is a GET.
        method = str(request.scope.get("method", "GET"))
        if not self.enabled:
            if self.settings.insecure_no_auth:
                return Identity("anonymous", Role.admin, "insecure")
            host = request.client.host if request.client else None
            if not is_loopback(host):
                raise errors.Forbidden(
                    "No tokens are configured: this service answers loopback clients only"
                )
            self._refuse_foreign_browser(request)
            return Identity("anonymous-loopback", Role.admin, "loopback")
        auth = request.headers.get("authorization")
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise errors.Unauthorized("Use 'Authorization: Bearer <token>'")
            identity = self.check_token(token.strip())
            if identity is None:
                raise errors.Unauthorized("The token is not valid (unknown or expired)")
            return identity
        ticket = request.query_params.get("ticket")
        if ticket is not None:
            if method != "GET" or not is_stream(operation_id):
                raise errors.Unauthorized("A ticket opens a stream (GET) only")
            identity = await self.tickets.redeem(ticket, request.url.path)
            if identity is None:
                raise errors.Unauthorized("The ticket is not valid (unknown, used or expired)")
            return identity
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie is not None:
            session = await self.sessions.get(cookie)
            if session is None:
                raise errors.Unauthorized("The session is not valid (unknown or expired)")
            if method not in SAFE_METHODS:
                sent = request.headers.get(CSRF_HEADER, "")
                if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                    request.state.refused_identity = session.identity  # for the audit
                    raise errors.CsrfRefused(
                        f"A change made with the session cookie needs the {CSRF_HEADER} header"
                    )
            return Identity(
                session.identity.name,
                session.identity.role,
                "session",
                cookie,
                hosts=session.identity.hosts,
            )
        raise errors.Unauthorized("No credentials: send 'Authorization: Bearer <token>'")


PUBLIC_IDENTITY = Identity("public", Role.viewer, "public")


async def identify(request: HTTPConnection, operation_id: str) -> Identity:
    """Who is calling, and may they call this operation (401 / 403 otherwise).

    Reads the headers, query and cookie only, never the body. A refused WebSocket
    handshake (its origin checked first) is audited like a refused change; an
    accepted one audits its own session (app/services/terminals.py)."""
    from app import audit

    security: Security = request.app.state.security
    try:
        if request.scope["type"] == "websocket":
            security.check_websocket_origin(request)
        identity = await security.authenticate(request, operation_id)
    except errors.ProblemError:
        # Who was refused, when known (a valid session without its CSRF header).
        who = getattr(request.state, "refused_identity", None)
        audit.note_refused(request, who, operation_id)
        raise
    request.state.identity = identity
    needed = required_role(operation_id)
    if identity.role < needed:
        audit.note_refused(request, identity, operation_id)
        raise errors.Forbidden(
            f"{operation_id} needs the {needed.name} role; {identity.name} is {identity.role.name}"
        )
    refused_host = _refused_host(request, identity)
    if refused_host is not None:
        if isinstance(request, Request):
            audit.note_refused(request, identity, operation_id)
        raise errors.Forbidden(f"{identity.name} may not use host {refused_host!r}")
    return identity


_TAKES_HOST: dict[int, bool] = {}


def takes_host(route: Any) -> bool:
    """Whether the route works on a host (has the `host` query parameter, its own or
    a dependency's): /v1/hosts, /v1/audit, /v1/auth… do not."""
    key = id(route)
    found = _TAKES_HOST.get(key)
    if found is None:
        found = False
        todo = [d for d in (getattr(route, "dependant", None),) if d is not None]
        while todo and not found:
            dependant = todo.pop()
            found = any(q.alias == "host" for q in dependant.query_params)
            todo.extend(dependant.dependencies)
        _TAKES_HOST[key] = found
    return found


def _refused_host(request: HTTPConnection, identity: Identity) -> str | None:
    """The first host the request names (`?host=`; none: the default host) that the
    identity may not use; `*` means the ones it may, so it is never refused."""
    if identity.hosts is None or not takes_host(request.scope.get("route")):
        return None
    names = request.query_params.getlist("host")
    if not names:
        hosts = getattr(request.app.state, "hosts", None)
        names = [hosts.default.name] if hosts is not None else []
    return next((n for n in names if n != "*" and not identity.may_use_host(n)), None)


async def authorize(request: HTTPConnection) -> Identity:
    """The app-wide dependency: who is calling, may they, and the audit record.

    WebSocket handshakes pass here too (their origin checked first); a terminal
    audits its own session (app/services/terminals.py)."""
    from app import audit

    route = request.scope.get("route")
    operation_id = str(getattr(route, "name", "") or "")
    if operation_id in PUBLIC:
        return PUBLIC_IDENTITY
    early: tuple[str, Identity] | None = getattr(request.state, "authenticated", None)
    if early is not None and early[0] == operation_id:
        identity = early[1]  # AuthenticateFirst checked it, before the body came
    else:
        identity = await identify(request, operation_id)
    if isinstance(request, Request):
        await audit.begin(request, identity, operation_id)
    return identity


class AuthenticateFirst:
    """Credentials and the role are checked from the headers, before any body is read.

    FastAPI reads a route's body before it solves its dependencies (`authorize`), so a
    caller with no (or bad) credentials could make moorage take in a large body only
    to answer 401. Here a request that may carry a body (any method but GET, HEAD,
    OPTIONS) is matched to its route and `identify`-ed first; a refusal is answered at
    once with `Connection: close`, before a byte of the body is read (a client that
    sent `Expect: 100-continue` never sends it). `authorize` then takes the identity
    found here instead of asking again. Reads stay on the routed path (GET has no body;
    a stream ticket is single-use and is redeemed once, by `authorize`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        route = _route_of(scope)
        if route is None or route.name in PUBLIC:
            await self.app(scope, receive, send)  # the router answers 404/405 bodiless
            return
        request = Request(scope)  # no `receive`: nothing here may read the body
        try:
            identity = await identify(request, route.name)
        except errors.ProblemError as exc:
            response = errors.problem_response(request, exc)
            response.headers["Connection"] = "close"  # the unread body is not wanted
            await response(scope, receive, send)
            return
        request.state.authenticated = (route.name, identity)
        await self.app(scope, receive, send)


def _route_of(scope: Scope) -> APIRoute | None:
    """The API route that will answer this request, matched as the router matches it
    (first full match, in order); its scope (route, path parameters) is set as
    routing sets it."""
    app = scope.get("app")
    for route in _api_routes(getattr(getattr(app, "router", None), "routes", ())):
        match, child = route.matches(scope)
        if match == Match.FULL:
            scope.update(child)
            return route
    return None


def _api_routes(routes: Any) -> Iterator[APIRoute]:
    # FastAPI >= 0.16x keeps an included router whole (`_IncludedRouter`, its routes in
    # `original_router`); moorage includes its routers without a prefix, so their
    # routes' own paths are the paths served. One with a prefix is left to `authorize`.
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (inner := getattr(route, "original_router", None)) is not None and not getattr(
            getattr(route, "include_context", None), "prefix", ""
        ):
            yield from _api_routes(inner.routes)


IdentityDep = Annotated[Identity, Depends(authorize)]


# -- response headers -------------------------------------------------------------------

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
# The API answers data, never pages: nothing may run or be framed. /docs and /ui load
# their scripts and styles, so they get no CSP here.
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_WITH_CSP: tuple[tuple[bytes, bytes], ...] = (*SECURITY_HEADERS, API_CSP)


class SecurityHeaders:
    """Standard security headers on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        with_csp = not path.startswith(("/docs", "/redoc", "/ui"))

        async def send_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = _WITH_CSP if with_csp else SECURITY_HEADERS
                headers.extend((k, v) for k, v in extra if k not in present)
                if path.startswith("/v1/auth") and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_headers)


# -- OpenAPI ----------------------------------------------------------------------------


def document_security(app: FastAPI) -> None:
    """Security schemes in the spec, and each operation's role (`x-moorage-role`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = build()
        components = spec.setdefault("components", {})
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An API token"},
            "session": {
                "type": "apiKey",
                "in": "cookie",
                "name": SESSION_COOKIE,
                "description": f"From POST /v1/auth/session; changes also need {CSRF_HEADER}",
            },
            "ticket": {
                "type": "apiKey",
                "in": "query",
                "name": "ticket",
                "description": "From POST /v1/auth/tickets; one stream, once",
            },
        }
        for item in spec.get("paths", {}).values():
            for op in item.values():
                op_id = op.get("operationId", "")
                if op_id in PUBLIC:
                    op["security"] = []
                    continue
                schemes: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]
                if is_stream(op_id):
                    schemes.append({"ticket": []})
                op["security"] = schemes
                op["x-moorage-role"] = required_role(op_id).name
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
