"""The route walk: every route of the app answers 401 without credentials and 403 with
a role below the one `app/security.py ROLES` gives it. A walk, not a list: a route
added anywhere is checked, and a route missing from the table fails here by name.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.main import create_app
from app.security import PUBLIC, ROLES, Role, required_role
from app.settings import Settings
from tests.test_security import bearer, write_tokens


def _routes(app: FastAPI) -> list[Any]:
    # FastAPI >= 0.16x keeps included routers lazily (`_IncludedRouter`); flatten them.
    flatten = getattr(fastapi.routing, "_iter_included_route_candidates", None)
    return list(flatten(app.routes)) if flatten is not None else list(app.routes)


def walk(app: FastAPI) -> list[tuple[str, str, str]]:
    """(operationId, method, concrete path) for every API route of the app."""
    out = []
    for route in _routes(app):
        if not isinstance(route, APIRoute):
            continue
        path = re.sub(r"\{[^}:]+(:[^}]+)?\}", "x", route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            out.append((route.name, method, path))
    return out


@pytest.fixture(scope="module")
async def walked(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    tokens = write_tokens(tmp_path_factory.mktemp("walk") / "tokens.toml")
    app = create_app(Settings(tokens_file=tokens, audit_db=":memory:"))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://moorage.test") as c:
            yield app, c


def test_every_route_has_a_role() -> None:
    app = create_app(Settings(audit_db=":memory:"))
    missing = sorted({name for name, _, _ in walk(app)} - set(ROLES) - PUBLIC)
    assert not missing, f"routes missing from app/security.py ROLES: {missing}"


def test_the_walk_sees_every_documented_operation() -> None:
    app = create_app(Settings(audit_db=":memory:"))
    names = {name for name, _, _ in walk(app)}
    assert {"auth_session_create", "auth_tickets_create", "audit_list", "system_ping"} <= names
    spec = app.openapi()
    documented = {op["operationId"] for item in spec["paths"].values() for op in item.values()}
    assert documented <= names, f"the walk misses {sorted(documented - names)}"


async def test_walk_401_and_403(walked: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, c = walked
    failures = []
    checked = 0
    for name, method, path in walk(app):
        if name in PUBLIC or name.startswith("_"):
            continue  # private catch-alls match paths of their own making (still in ROLES)
        r = await c.request(method, path)
        if r.status_code != 401 or r.json().get("code") != "unauthorized":
            failures.append(f"{method} {path} ({name}) without a token: {r.status_code}")
        needed = required_role(name)
        for role in Role:
            if role >= needed:
                continue
            r = await c.request(method, path, headers=bearer(role.name))
            checked += 1
            if r.status_code != 403 or r.json().get("code") != "forbidden":
                failures.append(f"{method} {path} ({name}) as {role.name}: {r.status_code}")
    assert not failures, "\n".join(failures)
    assert checked >= 1


async def test_unclassified_route_is_admin_only(tmp_path: Path) -> None:
    tokens = write_tokens(tmp_path / "tokens.toml")
    app = create_app(Settings(tokens_file=tokens, audit_db=":memory:"))

    async def zz_new_thing() -> dict[str, bool]:
        return {"ok": True}

    app.add_api_route("/v1/_new", zz_new_thing, methods=["GET"])
    assert "zz_new_thing" not in ROLES
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await c.get("/v1/_new")).status_code == 401
            assert (await c.get("/v1/_new", headers=bearer("viewer"))).status_code == 403
            assert (await c.get("/v1/_new", headers=bearer("operator"))).status_code == 403
            assert (await c.get("/v1/_new", headers=bearer("admin"))).status_code == 200


def test_roles_follow_api_md() -> None:
    """viewer: reads and streams; operator: lifecycle, pull, volume and network changes;
    admin: exec, create, build, push, prune, archive."""
    for op in ("containers_list", "containers_logs_stream", "system_events", "stats_stream"):
        assert ROLES[op] is Role.viewer
    for op in (
        "containers_start",
        "containers_stop",
        "images_pull",
        "volumes_create",
        "networks_connect",
        "networks_delete",
    ):
        assert ROLES[op] is Role.operator
    for op in (
        "containers_exec",
        "containers_create",
        "containers_run",
        "images_build",
        "images_push",
        "containers_prune",
        "images_prune",
        "containers_archive_put",
        "containers_archive_get",
        "audit_list",
    ):
        assert ROLES[op] is Role.admin
