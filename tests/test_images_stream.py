"""Pull, push and build with `Accept: text/event-stream`, against a real uvicorn, the
engine and the local registry (scripts/registry-up.sh, as tests/test_registry.py).

Bad credentials on a pull are a 403 problem *before* the stream: the route runs the
pull up to the engine's first line before it answers, and the engine asks the
registry for the manifest (and so is refused) before it writes any progress. On a
push the engine writes "The push refers to repository …" before it talks to the
registry, so a refusal there arrives in the stream: `event: error`, registry-denied.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app import errors
from app.main import create_app
from app.settings import Settings
from app.streams import primed
from tests.conftest import RUN_ID, TEST_LABEL, LiveServer, docker, exists
from tests.sse import Event, events
from tests.test_build import LABELS, OURS, TAR, make_tar
from tests.test_registry import REGISTRY, WRONG, assert_no_secret, auth, registry, repo

__all__ = ["registry", "repo"]  # module fixtures: the registry is up, a repository on it

SSE = {"Accept": "text/event-stream"}


@pytest.fixture
def tag() -> Iterator[str]:
    value = f"mt-sse-build-{uuid.uuid4().hex[:8]}/img:1"
    yield value
    docker("rmi", "-f", value, check=False)


@pytest.fixture(scope="module", autouse=True)
def _prune_our_dangling_images() -> Iterator[None]:
    yield
    docker("image", "prune", "-f", "--filter", f"label={TEST_LABEL}={RUN_ID}", check=False)


async def stream(
    server: LiveServer, path: str, *, expect: int = 200, **kwargs: Any
) -> tuple[httpx.Response, list[Event]]:
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=120) as c,
        c.stream("POST", path, headers={**SSE, **kwargs.pop("headers", {})}, **kwargs) as r,
    ):
        if r.status_code != 200:
            await r.aread()
            assert r.status_code == expect, r.text
            return r, []
        assert r.headers["content-type"].startswith("text/event-stream")
        return r, [ev async for ev in events(r)]


def assert_progress_then_done(got: list[Event]) -> dict[str, Any]:
    kinds = [e.event for e in got]
    assert kinds[-1] == "done", kinds
    assert "progress" in kinds
    assert set(kinds[:-1]) <= {"progress"}
    for e in got[:-1]:
        assert set(e.json) == {"id", "status", "current", "total"}
    done: dict[str, Any] = got[-1].json
    return done


async def test_push_then_pull_stream_progress_then_done(live_server: LiveServer, repo: str) -> None:
    body = {"repository": repo, "tag": "1", "auth": auth()}
    _, got = await stream(live_server, "/v1/images/push", json=body)
    pushed = assert_progress_then_done(got)
    assert pushed["repository"] == repo
    assert pushed["digest"].startswith("sha256:")

    docker("rmi", f"{repo}:1")
    body = {"image": f"{repo}:1", "auth": auth()}
    _, got = await stream(live_server, "/v1/images/pull", json=body)
    image = assert_progress_then_done(got)
    assert f"{repo}:1" in image["tags"]
    assert f"{repo}@{pushed['digest']}" in image["digests"]
    assert exists("image", f"{repo}:1")
    statuses = [e.json["status"] for e in got[:-1]]
    assert any(s.startswith("Digest: sha256:") for s in statuses), statuses


async def test_pull_bad_credentials_is_a_403_before_the_stream(
    live_server: LiveServer, repo: str
) -> None:
    body = {"image": f"{repo}:1", "auth": auth(WRONG)}
    r, _ = await stream(live_server, "/v1/images/pull", expect=403, json=body)
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "registry-denied"
    assert REGISTRY in problem["detail"]
    assert_no_secret(r.text)


async def test_push_bad_credentials_is_an_error_event(live_server: LiveServer, repo: str) -> None:
    body = {"repository": repo, "tag": "1", "auth": auth(WRONG)}
    _, got = await stream(live_server, "/v1/images/push", json=body)
    assert got[-1].event == "error"
    problem = got[-1].json
    assert (problem["code"], problem["status"]) == ("registry-denied", 403)
    assert REGISTRY in problem["detail"]
    assert_no_secret(json.dumps([e.data for e in got]))


async def test_bad_input_is_a_problem_before_the_stream(live_server: LiveServer) -> None:
    await stream(live_server, "/v1/images/pull", expect=422, json={"image": "a", "nope": 1})
    r, _ = await stream(live_server, "/v1/images/pull", expect=422, json={"image": "team/app/"})
    assert r.json()["code"] == "validation-error"
    await stream(live_server, "/v1/images/build", expect=422, json={"files": {}})
    await stream(live_server, "/v1/images/build", expect=400, content=b"not a tar", headers=TAR)


async def test_json_build_streams_log_then_done(
    live_server: LiveServer, image: str, tag: str
) -> None:
    spec = {
        "dockerfile": f"FROM {image}\n{OURS}COPY hello.txt /hello.txt\nRUN cat /hello.txt\n",
        "files": {"hello.txt": "hello-from-sse-build\n"},
        "tag": tag,
        "labels": {TEST_LABEL: RUN_ID},
        "network": "none",
    }
    _, got = await stream(live_server, "/v1/images/build", json=spec)
    kinds = [e.event for e in got]
    assert kinds[-1] == "done", got
    assert "log" in kinds
    lines = [e.json["line"] for e in got if e.event == "log"]
    assert any(line.startswith("Step 1/") for line in lines)
    assert "hello-from-sse-build" in lines
    assert got[-1].json["tags"] == [tag]
    assert docker("inspect", "-f", "{{.Id}}", tag).strip() == got[-1].json["image"]


async def test_tar_build_failure_is_an_error_event_with_the_log(
    live_server: LiveServer, image: str
) -> None:
    files = {"Dockerfile": f"FROM {image}\n{OURS}RUN echo before-failing; exit 7\n"}
    _, got = await stream(
        live_server,
        "/v1/images/build",
        content=make_tar(files),
        headers=TAR,
        params={"labels": LABELS, "network": "none"},
    )
    assert "log" in [e.event for e in got]
    assert got[-1].event == "error"
    problem = got[-1].json
    assert (problem["code"], problem["status"]) == ("build-failed", 422)
    assert "before-failing" in problem["log"]
    assert "7" in problem["detail"]

    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as c:
        r = await c.get("/v1/audit", params={"action": "images_build"})
    assert r.json()[0]["status"] == 422  # the audited outcome is the stream's failure


async def test_policy_refusal_is_a_problem_before_the_stream(tmp_path: Path) -> None:
    """In process (a refusal is a plain response, nothing to stream)."""
    policy = tmp_path / "policy.toml"
    policy.write_text(f'allowed_registries = ["{REGISTRY}"]\n')
    app = create_app(Settings(policy_file=policy, audit_db=":memory:"))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://moorage.test"
        ) as c,
    ):
        r = await c.post("/v1/images/pull", json={"image": "evil.example.com/a:1"}, headers=SSE)
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "policy-violation"
        r = await c.post(
            "/v1/images/build",
            json={"dockerfile": "FROM scratch\n", "tag": "evil.example.com/a:1"},
            headers=SSE,
        )
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "policy-violation"


# -- primed(): the engine call runs up to its first item before the response ------------


async def test_primed_raises_an_early_failure_in_the_handler() -> None:
    async def refused() -> AsyncGenerator[int, None]:
        raise errors.RegistryDenied("127.0.0.1:5000: unauthorized")
        yield 1  # pragma: no cover

    with pytest.raises(errors.RegistryDenied):
        await primed(refused(), wait=5)


async def test_primed_does_not_hold_a_silent_stream_back() -> None:
    go = asyncio.Event()
    closed = asyncio.Event()

    async def slow() -> AsyncGenerator[int, None]:
        try:
            await go.wait()
            yield 1
            yield 2
            raise errors.BuildFailed("late", log="x\n")
        finally:
            closed.set()

    rest = await primed(slow(), wait=0.01)  # returns although nothing came yet
    go.set()
    assert [await anext(rest), await anext(rest)] == [1, 2]
    with pytest.raises(errors.BuildFailed):  # a later failure is the stream's
        await anext(rest)
    assert closed.is_set()

    # Closed before the first item came: the upstream is closed too.
    go.clear()
    closed.clear()
    rest = await primed(slow(), wait=0.01)
    await rest.aclose()
    assert closed.is_set()

    # Dropped unread (a response that never started its body): the upstream stops.
    closed.clear()
    rest = await primed(slow(), wait=0.01)
    del rest
    for _ in range(3):
        await asyncio.sleep(0)
    assert closed.is_set()


async def test_primed_empty_stream() -> None:
    async def empty() -> AsyncGenerator[int, None]:
        return
        yield 1  # pragma: no cover

    assert [i async for i in await primed(empty(), wait=5)] == []
