"""Concurrency: 50 concurrent start/stop/remove calls on the same container give
consistent answers and no 500; 500 concurrent mixed requests end with no error.

Against a real uvicorn and the PRIVATE engine. The container part runs once the
container routes exist (before the merge `POST /v1/containers/{id}/start` is 404
`not-found`); the mixed part uses whichever of its routes exist.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiodocker
import aiohttp
import httpx
import pytest

from app.engine import translate_docker_error
from tests.conftest import LiveServer
from tests.conftest import test_labels as labels_of_this_run
from tests.engine_harness import PrivateEngine, private_engine, route_exists

__all__ = ["private_engine"]

pytestmark = [pytest.mark.engine, pytest.mark.slow]

CONFLICTS = {"conflict", "container-running", "container-not-running", "in-use"}


@pytest.fixture
def server(private_engine: PrivateEngine) -> Iterator[LiveServer]:
    # 500 requests at once on 2 cores slow the engine's own answers: /readyz here checks
    # that nothing fails, not how fast the engine is, so it may wait longer than 2 s.
    env = {"MOORAGE_DOCKER_HOST": private_engine.url, "MOORAGE_READY_TIMEOUT": "15"}
    live = LiveServer(env=env).start(wait_ready=True)
    try:
        yield live
    finally:
        live.stop()
        private_engine.clear()


def make_container(engine: PrivateEngine, name: str, image: str) -> str:
    labels = [f"--label={k}={v}" for k, v in labels_of_this_run().items()]
    # Ends at once on SIGTERM, so stop and restart stay quick.
    return engine.docker(
        "create",
        "--name",
        name,
        "--stop-timeout",
        "1",
        *labels,
        image,
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    ).strip()


def check_answer(r: httpx.Response, cid: str) -> str:
    """One answer, classified; anything inconsistent fails."""
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        assert r.json()["id"] == cid, r.text
        return "ok"
    if r.status_code == 204:
        return "deleted"
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    code = r.json()["code"]
    if r.status_code == 404:
        assert code == "container-not-found", r.text
        return "gone"
    assert r.status_code == 409, r.text
    assert code in CONFLICTS, r.text
    return "conflict"


async def test_fifty_concurrent_lifecycle_calls_on_one_container(
    server: LiveServer, private_engine: PrivateEngine, name: str, image: str
) -> None:
    cid = make_container(private_engine, name, image)
    if not route_exists(server.url, "POST", f"/v1/containers/{cid}/start"):
        pytest.skip("no container routes on this branch yet (they land later)")
    actions = [
        ("POST", f"/v1/containers/{cid}/start"),
        ("POST", f"/v1/containers/{cid}/stop?timeout=1"),
        ("POST", f"/v1/containers/{cid}/restart?timeout=1"),
    ]
    async with httpx.AsyncClient(
        base_url=server.url, timeout=60, limits=httpx.Limits(max_connections=60)
    ) as http:
        answers = await asyncio.gather(
            *(http.request(*actions[i % len(actions)]) for i in range(50))
        )
        kinds = Counter(check_answer(r, cid) for r in answers)
        assert kinds["ok"] > 0, kinds
        # moorage and the engine agree afterwards.
        r = await http.get(f"/v1/containers/{cid}")
        assert r.status_code == 200
        truth = private_engine.inspect("container", cid)["State"]["Status"]
        assert r.json()["status"] == truth

        # Removal racing starts and stops: one removal wins, the rest are answered.
        calls: list[tuple[str, str]] = []
        for i in range(50):
            calls.append(
                ("DELETE", f"/v1/containers/{cid}?force=true") if i % 2 else actions[i // 2 % 2]
            )
        answers = await asyncio.gather(*(http.request(*c) for c in calls))
        kinds = Counter(check_answer(r, cid) for r in answers)
        assert kinds["deleted"] >= 1, kinds
        assert (await http.get(f"/v1/containers/{cid}")).status_code == 404
        assert private_engine.docker("ps", "-aq", "--filter", f"id={cid}").strip() == ""


MIXED: list[tuple[str, str]] = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/v1/system/ping"),
    ("GET", "/v1/system/version"),
    ("GET", "/v1/system/info"),
    ("GET", "/v1/system/df"),
    ("GET", "/v1/containers?all=true"),
    ("GET", "/v1/images"),
    ("GET", "/v1/volumes"),
    ("GET", "/v1/networks"),
    ("GET", "/v1/containers/{cid}"),
    ("GET", "/v1/containers/{cid}/logs?tail=5"),
    ("GET", "/v1/containers/{cid}/top"),
    ("GET", "/v1/containers/{cid}/stats"),
    ("GET", "/v1/images/{image}"),
]


async def test_five_hundred_concurrent_mixed_requests(
    server: LiveServer, private_engine: PrivateEngine, name: str, image: str
) -> None:
    cid = make_container(private_engine, name, image)
    private_engine.docker("start", cid)
    paths = [
        (m, p.format(cid=cid, image=image))
        for m, p in MIXED
        if route_exists(server.url, m, p.format(cid=cid, image=image))
    ]
    assert len(paths) >= 5
    async with httpx.AsyncClient(
        base_url=server.url, timeout=120, limits=httpx.Limits(max_connections=500)
    ) as http:

        async def one(i: int) -> tuple[str, httpx.Response]:
            method, path = paths[i % len(paths)]
            return path, await http.request(method, path)

        answers: list[tuple[str, Any]] = await asyncio.gather(*(one(i) for i in range(500)))
    failed = [(p, r.status_code, r.text[:200]) for p, r in answers if r.status_code >= 300]
    assert failed == [], failed[:5]
    print(f"\n500 concurrent over {len(paths)} routes: all 2xx")


@pytest.mark.parametrize(
    ("message", "status", "code"),
    [
        ("cannot stop container: abc: Container abc is not running", 409, "container-not-running"),
        ("removal of container abc is already in progress", 409, "conflict"),
        ("Container abc is restarting, wait until the container is running", 409, "conflict"),
        ("No such container: abc", 404, "container-not-found"),
        ("failed to allocate gateway (10.77.0.1): Address already in use", 409, "conflict"),
        ("error while creating mount source path: permission denied", 502, "engine-error"),
        ("docker.io: repository name must not be more than 255 characters", 400, "bad-request"),
        ("syntax error in pattern", 400, "bad-request"),
        ("invalid filter: 'type'='null'", 400, "bad-request"),
    ],
)
def test_engine_500_races_are_conflicts(message: str, status: int, code: str) -> None:
    """The engine answers some races on one container with 500: they are 409/404."""
    err = translate_docker_error(aiodocker.DockerError(500, message))
    assert (err.status, err.code) == (status, code)


def test_a_redirecting_reference_is_a_bad_request() -> None:
    exc = aiohttp.InvalidUrlRedirectClientError("/v1.41/images/0/json", "Invalid redirect URL")
    assert translate_docker_error(exc).code == "bad-request"
