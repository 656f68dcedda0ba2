"""What the engine asks of a registry on the caller's behalf, besides pull and push:
search (docker-py `images.search`) and a credentials check (docker-py `login`)."""

from __future__ import annotations

import re
from typing import Any

from app import errors
from app.engine import Engine
from app.models.images import LoginRequest, RegistryAuth, SearchResult
from app.services.registry_auth import is_auth_failure, registry_denied, scrub

# The engine's words when it never got an answer from the registry.
_UNREACHABLE = re.compile(
    r"dial tcp|no such host|connection refused|i/o timeout|timeout|network is unreachable"
    r"|no route to host|tls: |certificate|server gave HTTP response",
    re.I,
)


def registry_problem(
    exc: errors.ProblemError, registry: str, auth: RegistryAuth | None
) -> errors.ProblemError:
    """An engine failure on the way to a registry, as the problem it stands for."""
    if not isinstance(exc, errors.EngineError | errors.BadRequest | errors.NotFound):
        return exc
    message = scrub(exc.detail, auth)
    if is_auth_failure(message):
        return registry_denied(registry, message, auth)
    if _UNREACHABLE.search(message):
        return errors.RegistryUnreachable(
            f"Registry {registry} cannot be reached: {message}", registry=registry
        )
    return errors.EngineError(f"Registry {registry}: {message}", registry=registry)


def _search_registry(term: str) -> str:
    first, sep, _ = term.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "index.docker.io"


async def search(
    engine: Engine, term: str, limit: int | None, filters: dict[str, list[str]]
) -> list[SearchResult]:
    """The engine's search of a registry (Docker Hub unless the term names another)."""
    registry = _search_registry(term)
    try:
        docs: list[dict[str, Any]] = await engine.json(
            "GET",
            "images/search",
            params={"term": term, "limit": limit, "filters": filters or None},
            long=True,
        )
    except errors.ProblemError as exc:
        raise registry_problem(exc, registry, None) from None
    return [SearchResult.from_engine(d) for d in docs or []]


async def login(engine: Engine, req: LoginRequest) -> dict[str, Any]:
    """The engine checks the credentials against the registry; nothing is kept."""
    registry = req.registry or "docker.io"
    server = req.registry or "https://index.docker.io/v1/"
    auth = RegistryAuth(username=req.username, password=req.password, serveraddress=server)
    body = {
        "username": req.username,
        "password": req.password.get_secret_value(),
        "serveraddress": server,
    }
    if req.email:
        body["email"] = req.email
    try:
        doc: dict[str, Any] = await engine.json("POST", "auth", json=body, long=True)
    except errors.ProblemError as exc:
        raise registry_problem(exc, registry, auth) from None
    return doc
