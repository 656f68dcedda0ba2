from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import RUN_ID, TEST_LABEL, docker


def run(name: str, image: str, *flags: str) -> None:
    docker(
        "run", "-d", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}",
        "--name", name, *flags, image, "sleep", "600",
    )  # fmt: skip


async def health_until(client: httpx.AsyncClient, name: str, status: str) -> dict[str, Any]:
    for _ in range(300):
        r = await client.get(f"/v1/containers/{name}/health")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if body["status"] == status:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} never became {status}: {body}")


async def test_no_healthcheck_is_none(client: httpx.AsyncClient, name: str, image: str) -> None:
    run(name, image)
    body = (await client.get(f"/v1/containers/{name}/health")).json()
    assert body["status"] == "none"
    assert body["failing_streak"] == 0
    assert body["log"] == []
    docker("rm", "-f", name)


async def test_starting_then_healthy(client: httpx.AsyncClient, name: str, image: str) -> None:
    # Healthy once /tmp/ok exists: starting until the test creates it.
    run(name, image, "--health-cmd", "test -f /tmp/ok && echo fine", "--health-interval", "1s")
    body = (await client.get(f"/v1/containers/{name}/health")).json()
    assert body["status"] == "starting"
    docker("exec", name, "touch", "/tmp/ok")
    body = await health_until(client, name, "healthy")
    assert body["failing_streak"] == 0
    last = body["log"][-1]
    assert last["exit_code"] == 0
    assert last["output"].strip() == "fine"
    assert last["start"].startswith("20")
    assert last["end"]
    docker("rm", "-f", name)


async def test_unhealthy(client: httpx.AsyncClient, name: str, image: str) -> None:
    run(
        name, image, "--health-cmd", "echo broken; exit 1",
        "--health-interval", "1s", "--health-retries", "1",
    )  # fmt: skip
    body = await health_until(client, name, "unhealthy")
    assert body["failing_streak"] >= 1
    assert body["log"][-1]["exit_code"] == 1
    assert body["log"][-1]["output"].strip() == "broken"
    docker("rm", "-f", name)


async def test_health_of_missing_container(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/containers/mt-no-such-container/health")
    assert r.status_code == 404
    assert r.json()["code"] == "container-not-found"


async def listed_as(client: httpx.AsyncClient, name: str, status: str) -> dict[str, Any]:
    """The container's row in moorage's list filtered by `status`, once it is there."""
    for _ in range(300):
        r = await client.get("/v1/containers", params={"name": name, "health": status})
        assert r.status_code == 200, r.text
        rows: list[dict[str, Any]] = [row for row in r.json() if row["name"] == name]
        if rows:
            return rows[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} never listed as {status}")


async def test_the_list_follows_each_health_change(
    client: httpx.AsyncClient, name: str, image: str
) -> None:
    """The list (moorage's copy, kept by the engine's events) shows each change of a
    check's status as the engine's own list does, and filters by it."""
    run(
        name, image, "--health-cmd", "test -f /tmp/ok && echo fine || (echo gone; exit 1)",
        "--health-interval", "1s", "--health-retries", "1", "--health-start-period", "60s",
    )  # fmt: skip
    expect = {"starting": "(health: starting)", "healthy": "(healthy)", "unhealthy": "(unhealthy)"}
    await listed_as(client, name, "starting")
    for step, status in (("touch", "healthy"), ("rm", "unhealthy"), ("touch", "healthy")):
        docker("exec", name, step, "/tmp/ok")
        row = await listed_as(client, name, status)
        assert row["status"].endswith(expect[status]), row["status"]
        assert row["health"] == status
        engine = docker("ps", "--filter", f"name=^{name}$", "--filter", f"health={status}", "-q")
        assert engine.strip(), f"the engine does not list {name} as {status}"
        for other in set(expect) - {status}:
            r = await client.get("/v1/containers", params={"name": name, "health": other})
            assert name not in [row["name"] for row in r.json()]
    docker("rm", "-f", name)
