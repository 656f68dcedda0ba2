"""What the engine refuses is the caller's to fix (4xx), or the registry's (502
registry-unreachable), never "the engine failed" (502 engine-error).

Against the shared engine, with objects of this run only: an ambiguous short id of
this run's containers, and a registry address on loopback where nothing listens.
The translation of the engine's own words is also checked on its own (app/engine.py).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator

import aiodocker
import httpx
import pytest

from app import errors
from app.engine import translate_docker_error
from tests.conftest import RUN_ID, TEST_IMAGE, TEST_LABEL, docker, exists, free_port

# The engine's (20.10) own answers, seen here, and what each means to the caller.
ENGINE_SAID: list[tuple[int, str, type[errors.ProblemError]]] = [
    (500, "Multiple IDs found with provided prefix: 2", errors.AmbiguousId),
    (400, "2 matches found based on ID prefix: network 0 is ambiguous", errors.AmbiguousId),
    (500, "Invalid subnet 10.9.0.0/33 : invalid CIDR address: 10.9.0.0/33", errors.BadRequest),
    (
        500,
        "failed to allocate gateway (10.8.0.1): Requested address is out of range",
        errors.BadRequest,
    ),
    (500, "invalid gateway address zz in Ipam configuration", errors.BadRequest),
    (500, "non parsable secondary ip address (a:zz) passed for network n8", errors.BadRequest),
    (500, 'failed to parse value as time or duration: "garbage"', errors.BadRequest),
    (403, "Pool overlaps with other one on this address space", errors.Conflict),
    (
        404,
        'create v: error looking up volume plugin nope: plugin "nope" not found',
        errors.BadRequest,
    ),
    (404, 'plugin "nope" not found', errors.BadRequest),
    (500, 'strconv.ParseInt: parsing "zz": invalid syntax', errors.BadRequest),
    (500, "something inside the engine broke", errors.EngineError),
]


@pytest.mark.parametrize(("status", "message", "expected"), ENGINE_SAID)
def test_engine_words_translate(
    status: int, message: str, expected: type[errors.ProblemError]
) -> None:
    problem = translate_docker_error(aiodocker.DockerError(status, message))
    assert type(problem) is expected
    assert message in problem.detail


@pytest.fixture(scope="module")
def same_prefix(image: str) -> Iterator[tuple[str, list[str]]]:
    """17 containers of this run: two of them at least share their first hex digit."""
    ids = [
        docker("create", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}",
               "--label", "mt.ambiguous=1", image, "sleep", "600").strip()
        for _ in range(17)
    ]  # fmt: skip
    first, _ = collections.Counter(i[0] for i in ids).most_common(1)[0]
    yield first, [i for i in ids if i.startswith(first)]
    docker("rm", "-f", *ids, check=False)


def assert_ambiguous(r: httpx.Response, prefix: str) -> None:
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "ambiguous-id"
    assert prefix in r.json()["detail"]


@pytest.mark.engine
async def test_ambiguous_short_id(
    client: httpx.AsyncClient, same_prefix: tuple[str, list[str]]
) -> None:
    prefix, matching = same_prefix
    assert len(matching) >= 2
    # Made with the CLI: once moorage's copy holds them all, a prefix is judged as the
    # engine judges it (the copy follows the engine's events, a moment behind).
    for _ in range(200):
        r = await client.get("/v1/containers", params={"all": "true", "label": "mt.ambiguous=1"})
        if {c["id"] for c in r.json()} >= set(matching):
            break
        await asyncio.sleep(0.05)
    assert_ambiguous(await client.get(f"/v1/containers/{prefix}"), prefix)
    assert_ambiguous(await client.get(f"/v1/containers/{prefix}?fresh=true"), prefix)
    assert_ambiguous(await client.post(f"/v1/containers/{prefix}/start"), prefix)
    assert_ambiguous(await client.delete(f"/v1/containers/{prefix}?force=true"), prefix)
    # Nothing happened to any of them: none started, none removed.
    for cid in matching:
        assert exists("container", cid)
        assert docker("inspect", "-f", "{{.State.Status}}", cid).strip() == "created"
    # A prefix that names one of them is not ambiguous.
    r = await client.get(f"/v1/containers/{matching[0][:12]}")
    assert r.status_code == 200, r.text


@pytest.fixture
def nowhere() -> str:
    """A registry address on loopback where nothing listens (the engine trusts
    127.0.0.1 over plain HTTP, so the failure is the connection, not TLS)."""
    return f"127.0.0.1:{free_port()}"


def assert_unreachable(r: httpx.Response, registry: str) -> None:
    assert r.status_code == 502, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "registry-unreachable", body
    assert body["registry"] == registry
    assert registry in body["detail"]


@pytest.mark.engine
async def test_registry_unreachable_pull(client: httpx.AsyncClient, nowhere: str) -> None:
    ref = f"{nowhere}/mt/none:1"
    assert_unreachable(await client.post("/v1/images/pull", json={"image": ref}), nowhere)
    r = await client.post(
        "/v1/images/pull", json={"image": ref}, headers={"Accept": "text/event-stream"}
    )
    # The engine refuses before any progress: the stream is not opened, the problem is.
    assert_unreachable(r, nowhere)
    # A create that has to pull says so too.
    r = await client.post(
        "/v1/containers",
        json={"image": ref, "labels": {TEST_LABEL: RUN_ID, "mt.unreachable": "1"}},
    )
    assert_unreachable(r, nowhere)
    assert docker("ps", "-aq", "--filter", "label=mt.unreachable=1").split() == []
    assert not exists("image", ref)


@pytest.mark.engine
async def test_registry_unreachable_push(client: httpx.AsyncClient, nowhere: str) -> None:
    repo = f"{nowhere}/mt/push-{RUN_ID}"
    docker("tag", TEST_IMAGE, f"{repo}:1")
    try:
        r = await client.post("/v1/images/push", json={"repository": repo, "tag": "1"})
        assert_unreachable(r, nowhere)
        # Streamed: the engine reports it inside its 200 progress stream, and so does
        # moorage (`event: error` carrying the same problem).
        r = await client.post(
            "/v1/images/push",
            json={"repository": repo, "tag": "1"},
            headers={"Accept": "text/event-stream"},
        )
        assert r.status_code == 200, r.text
        error = r.text.split("event: error", 1)[1]
        assert '"code": "registry-unreachable"' in error.replace('":"', '": "')
        assert nowhere in error
    finally:
        docker("rmi", f"{repo}:1", check=False)


@pytest.mark.engine
async def test_registry_unreachable_build_base(client: httpx.AsyncClient, nowhere: str) -> None:
    tag = f"mt-build-unreachable:{RUN_ID}"
    r = await client.post(
        "/v1/images/build", json={"dockerfile": f"FROM {nowhere}/mt/base:1\n", "tag": tag}
    )
    assert_unreachable(r, nowhere)
    assert "FROM" in r.json()["log"]
    assert not exists("image", tag)


@pytest.mark.engine
@pytest.mark.slow  # the engine looks for a plugin for some seconds before it gives up
async def test_driver_not_installed_is_bad_input(client: httpx.AsyncClient) -> None:
    name = f"mt-no-driver-{RUN_ID}"
    labels = {TEST_LABEL: RUN_ID}
    for path, body in (
        ("/v1/volumes", {"name": name, "driver": "mt-no-such-driver", "labels": labels}),
        ("/v1/networks", {"name": name, "driver": "mt-no-such-driver", "labels": labels}),
    ):
        r = await client.post(path, json=body)
        assert r.status_code == 400, r.text
        assert "mt-no-such-driver" in r.json()["detail"]
    assert not exists("volume", name)
    assert not exists("network", name)
