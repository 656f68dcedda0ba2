"""HotReads (app/middleware.py): `GET /v1/containers/{id}` answered before routing.

The hot path must be invisible: every answer is compared with the routed one (a query
the hot path leaves to the router), and a spy in front of the router proves which
path answered.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Depends, FastAPI, Header
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.engine import EngineDep
from app.main import create_app
from app.middleware import HotRead, HotReads
from app.routers import HOT_READS
from app.security import SESSION_COOKIE
from app.settings import Settings
from tests.conftest import RUN_ID, TEST_LABEL, docker
from tests.test_security import TOKENS, bearer, write_tokens

# The headers that must be the same whichever path answered (not date/server: uvicorn's).
SAME = (
    *("content-type", "content-length", "www-authenticate"),
    *("x-content-type-options", "x-frame-options", "referrer-policy"),
    *("cross-origin-opener-policy", "content-security-policy"),
    *("access-control-allow-origin", "access-control-allow-credentials"),
)


class RouterSpy:
    """Counts the requests that reach FastAPI's router (below HotReads)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


def spy_on_router(app: FastAPI) -> RouterSpy:
    layer: Any = app.middleware_stack
    while not isinstance(layer, HotReads):
        layer = layer.app
    spy = RouterSpy(layer.app)
    layer.app = spy
    return spy


class Served:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client
        self.spy = spy_on_router(app)

    async def both(self, url: str, **kw: Any) -> tuple[httpx.Response, httpx.Response]:
        """The hot answer and the routed answer (`&routed=1`: a query HotReads leaves)."""
        before = len(self.spy.paths)
        hot = await self.client.get(url, **kw)
        assert len(self.spy.paths) == before, f"{url} was routed, not answered hot"
        routed = await self.client.get(url + ("&" if "?" in url else "?") + "routed=1", **kw)
        assert len(self.spy.paths) == before + 1, f"{url}&routed=1 was not routed"
        assert hot.status_code == routed.status_code, (hot.text, routed.text)
        assert hot.content == routed.content
        for h in SAME:
            assert hot.headers.get(h) == routed.headers.get(h), h
        return hot, routed


async def serve(settings: Settings, client: tuple[str, int] = ("127.0.0.1", 5555)) -> Any:
    app = create_app(settings)
    manager = LifespanManager(app)
    await manager.__aenter__()
    transport = httpx.ASGITransport(app=app, client=client)
    c = httpx.AsyncClient(transport=transport, base_url="http://moorage.test")
    return manager, c, Served(app, c)


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[str]:
    name = f"mt-hot-{RUN_ID}"
    cid = docker("create", "--label", f"{TEST_LABEL}={RUN_ID}", "--network", "none",
                 "--name", name, image, "true").strip()  # fmt: skip
    yield cid
    docker("rm", "-f", cid, check=False)


@pytest.fixture(scope="module")
def tokens_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tokens(tmp_path_factory.mktemp("hot") / "tokens.toml")


@pytest.fixture
async def loopback() -> AsyncIterator[Served]:
    manager, c, served = await serve(Settings(audit_db=":memory:"))
    async with c:
        yield served
    await manager.__aexit__(None, None, None)


@pytest.fixture
async def secure(tokens_file: Path) -> AsyncIterator[Served]:
    settings = Settings(
        tokens_file=tokens_file, audit_db=":memory:", cors_origins=["https://ui.example"]
    )
    manager, c, served = await serve(settings)
    async with c:
        yield served
    await manager.__aexit__(None, None, None)


async def test_answers_as_the_route_does(loopback: Served, container: str) -> None:
    hot, _ = await loopback.both(f"/v1/containers/{container}")
    assert hot.status_code == 200
    assert hot.json()["id"] == container
    assert hot.headers["content-type"] == "application/json"
    assert hot.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in hot.headers["content-security-policy"]
    name = hot.json()["name"]
    assert (await loopback.both(f"/v1/containers/{name}"))[0].json()["id"] == container
    for flag in ("true", "1", "false", "off"):
        hot, _ = await loopback.both(f"/v1/containers/{container}?fresh={flag}")
        assert hot.json()["id"] == container
    for query in ("stale=true", "fresh=1&stale=0", "stale=yes&fresh=no"):
        hot, _ = await loopback.both(f"/v1/containers/{container}?{query}")
        assert hot.json()["id"] == container
        assert "moorage-stale-since" not in hot.headers  # the engine is there


async def test_problems_as_the_route_gives_them(loopback: Served) -> None:
    hot, _ = await loopback.both("/v1/containers/no-such-container-hot")
    assert hot.status_code == 404
    assert hot.headers["content-type"].startswith("application/problem+json")
    assert hot.json()["code"] == "container-not-found"
    assert hot.json()["instance"] == "/v1/containers/no-such-container-hot"
    hot, _ = await loopback.both("/v1/containers/a..b")
    assert hot.status_code == 422
    assert hot.json()["code"] == "validation-error"
    hot, _ = await loopback.both("/v1/containers/no-such-container-hot?fresh=yes")
    assert hot.status_code == 404


async def test_other_requests_are_routed(loopback: Served, container: str) -> None:
    spy, c = loopback.spy, loopback.client
    for url in (
        f"/v1/containers/{container}?fresh=TRUE",  # pydantic's to read
        f"/v1/containers/{container}?fresh=maybe",  # 422, from FastAPI
        f"/v1/containers/{container}?fresh=1&fresh=0",
        f"/v1/containers/{container}?stale=1&fresh=0&stale=1",
        f"/v1/containers/{container}/",
        f"/v1/containers/{container}/json",
        "/v1/containers/a%2Fb",
        "/v1/containers",
    ):
        before = len(spy.paths)
        await c.get(url)
        assert len(spy.paths) == before + 1, url
    r = await c.get(f"/v1/containers/{container}?fresh=maybe")
    assert r.status_code == 422
    r = await c.head(f"/v1/containers/{container}")
    assert r.status_code == 405


async def test_metrics_count_the_operation(loopback: Served, container: str) -> None:
    await loopback.client.get(f"/v1/containers/{container}")
    await loopback.client.get("/v1/containers/no-such-container-hot")
    text = (await loopback.client.get("/metrics")).text
    assert 'moorage_requests_total{method="GET",operation="containers_get",status="200"} 1' in text
    assert 'moorage_requests_total{method="GET",operation="containers_get",status="404"} 1' in text
    assert 'moorage_request_duration_seconds_count{operation="containers_get"} 2' in text


async def test_tokens_are_checked(secure: Served, container: str) -> None:
    url = f"/v1/containers/{container}"
    hot, _ = await secure.both(url)
    assert hot.status_code == 401
    assert hot.headers["www-authenticate"] == "Bearer"
    hot, _ = await secure.both(url, headers={"Authorization": "Bearer mrg_nope"})
    assert hot.status_code == 401
    assert TOKENS["viewer"] not in hot.text
    hot, _ = await secure.both(url, headers=bearer("viewer"))
    assert hot.status_code == 200
    assert hot.json()["id"] == container
    origin = {"Origin": "https://ui.example", **bearer("viewer")}
    hot, _ = await secure.both(url, headers=origin)
    assert hot.headers["access-control-allow-origin"] == "https://ui.example"
    # A dashboard may read whether an answer came from the last known state.
    assert "moorage-stale-since" in hot.headers["access-control-expose-headers"].lower()
    text = (await secure.client.get("/metrics", headers=bearer("viewer"))).text
    assert 'operation="containers_get",status="401"} 4' in text


async def test_session_cookie(secure: Served, container: str) -> None:
    r = await secure.client.post("/v1/auth/session", headers=bearer("viewer"))
    assert r.status_code == 201
    assert SESSION_COOKIE in secure.client.cookies
    hot, _ = await secure.both(f"/v1/containers/{container}")
    assert hot.status_code == 200
    secure.client.cookies.set(SESSION_COOKIE, "forged")
    hot, _ = await secure.both(f"/v1/containers/{container}")
    assert hot.status_code == 401


async def test_reads_are_not_audited(secure: Served, container: str) -> None:
    store = secure.app.state.audit
    before = len(await store.query(limit=1000))
    await secure.both(f"/v1/containers/{container}", headers=bearer("viewer"))
    await secure.both(f"/v1/containers/{container}")
    assert len(await store.query(limit=1000)) == before


async def test_loopback_only_without_tokens(container: str) -> None:
    manager, c, served = await serve(Settings(audit_db=":memory:"), client=("10.1.2.3", 1))
    async with c:
        hot, _ = await served.both(f"/v1/containers/{container}")
        assert hot.status_code == 403
        assert "loopback" in hot.json()["detail"]
    await manager.__aexit__(None, None, None)
    manager, c, served = await serve(Settings(audit_db=":memory:"))
    async with c:
        # A web page elsewhere reaching 127.0.0.1 through the browser.
        hot, _ = await served.both(
            f"/v1/containers/{container}", headers={"Origin": "https://evil.example"}
        )
        assert hot.status_code == 403
    await manager.__aexit__(None, None, None)


def test_no_route_is_shadowed() -> None:
    """No other GET route answers a hot prefix plus one segment: HotReads would take
    its requests. (A `{x:path}` route matches more than one segment: it keeps those.)"""
    from tests.test_security_routes import _routes

    hot = {read.prefix: read.route for read in HOT_READS}
    for route in _routes(create_app(Settings(audit_db=":memory:"))):
        if not isinstance(route, APIRoute) or "GET" not in (route.methods or ()):
            continue
        for prefix, hot_route in hot.items():
            rest = route.path.removeprefix(prefix)
            if rest != route.path and "/" not in rest and ":path}" not in rest:
                assert route.name == hot_route.name, f"HotReads shadows {route.name} {route.path}"
    assert all(re.fullmatch(r"/v1/[a-z]+/", p) for p in hot)


def test_hot_read_refuses_what_it_would_skip() -> None:
    """A route whose routed path reads or runs more than `answer(state, id, flag)`."""

    async def answer(state: Any, id: str, flags: Any) -> Any:
        return None

    async def dep() -> None:
        return None

    async def plain(id: str, fresh: bool = False) -> None: ...
    async def more(id: str, fresh: bool = False, limit: int = 0) -> None: ...
    async def engine(id: str, engine: EngineDep, fresh: bool = False) -> None: ...
    async def header(id: str, x_flag: Annotated[str, Header()], fresh: bool = False) -> None: ...
    async def default_true(id: str, fresh: bool = True) -> None: ...
    async def text_flag(id: str, fresh: str = "") -> None: ...

    cases: list[tuple[str, Any, dict[str, Any], list[Any]]] = [
        ("/{id}", more, {}, []),
        ("/{id}", engine, {}, []),
        ("/{id}", header, {}, []),
        ("/{id}", default_true, {}, []),
        ("/{id}", text_flag, {}, []),
        ("/{id}", plain, {"dependencies": [Depends(dep)]}, []),
        ("/{id}", plain, {"methods": ["POST"]}, []),
        ("/{id}/x", plain, {}, []),
        ("/{id}", plain, {}, [Depends(dep)]),  # on the router
    ]
    for path, endpoint, kw, router_deps in cases:
        router = APIRouter(prefix="/v1/things", dependencies=router_deps)
        router.add_api_route(path, endpoint, name="things_get", **{"methods": ["GET"], **kw})
        with pytest.raises(ValueError, match="hot read"):
            HotRead.of(router, "things_get", ("fresh",), answer)
    router = APIRouter(prefix="/v1/things")
    router.add_api_route("/{id}", plain, name="things_get", methods=["GET"])
    assert HotRead.of(router, "things_get", ("fresh",), answer).prefix == "/v1/things/"
    assert [read.route.name for read in HOT_READS] == ["containers_get"]
