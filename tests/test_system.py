from __future__ import annotations

import httpx

from tests.conftest import docker


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    assert body["engine"]["version"] == docker("version", "-f", "{{.Server.Version}}").strip()


async def test_ping_gives_api_version(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/system/ping")
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True
    engine_api = docker("version", "-f", "{{.Server.APIVersion}}").strip()
    major, minor = (int(x) for x in engine_api.split("."))
    assert body["api_version"] == f"{major}.{min(minor, 47)}"


async def test_version_and_info(client: httpx.AsyncClient) -> None:
    v = (await client.get("/v1/system/version")).json()
    assert v["version"] == docker("version", "-f", "{{.Server.Version}}").strip()
    assert v["raw"]["ApiVersion"]
    info = (await client.get("/v1/system/info")).json()
    assert info["ncpu"] >= 1
    assert info["driver"] == docker("info", "-f", "{{.Driver}}").strip()
    assert "raw" in info


async def test_df(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/system/df")
    assert r.status_code == 200
    body = r.json()
    for key in ("images", "containers", "volumes", "build_cache"):
        assert body[key]["count"] >= 0
    assert body["images"]["count"] >= 1


async def test_unknown_route_is_a_problem(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nope")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not-found"


async def test_wrong_method_is_a_problem(client: httpx.AsyncClient) -> None:
    r = await client.delete("/healthz")
    assert r.status_code == 405
    assert r.json()["code"] == "method-not-allowed"


async def test_metrics_count_requests_by_operation(client: httpx.AsyncClient) -> None:
    await client.get("/v1/system/ping")
    await client.get("/v1/containers/no-such-container-xyz")
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'moorage_requests_total{method="GET",operation="system_ping",status="200"}' in text
    assert 'operation="containers_get",status="404"' in text
    assert "moorage_engine_events_connected 1" in text
    assert 'moorage_request_duration_seconds_count{operation="system_ping"}' in text
