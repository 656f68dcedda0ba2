from __future__ import annotations

import httpx

from tests.conftest import docker, run_sleeper


async def test_stats_sample(client: httpx.AsyncClient, name: str, image: str) -> None:
    run_sleeper(image, name, "--memory", "64m")
    cid = docker("inspect", "-f", "{{.Id}}", name).strip()
    r = await client.get(f"/v1/containers/{name}/stats")
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["container_id"] == cid
    assert s["name"] == name
    assert s["memory_limit"] == 64 * 1024 * 1024
    assert 0 < s["memory_usage"] <= s["memory_limit"]
    assert 0 <= s["memory_percent"] <= 100
    assert 0 <= s["cpu_percent"] <= 100 * s["online_cpus"]
    assert s["pids"] >= 1
    assert s["read"]

    quick = (await client.get(f"/v1/containers/{name}/stats", params={"one_shot": True})).json()
    assert quick["memory_limit"] == 64 * 1024 * 1024
    assert quick["cpu_percent"] >= 0

    # As `docker stats --no-stream`: a stopped container gives a sample of zeros.
    docker("stop", "-t", "0", name)
    z = (await client.get(f"/v1/containers/{name}/stats")).json()
    assert z["container_id"] == cid
    assert (z["memory_usage"], z["memory_limit"], z["cpu_percent"], z["pids"]) == (0, 0, 0, 0)
    docker("rm", "-f", name)


async def test_stats_of_missing_container(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/containers/mt-no-such-container/stats")
    assert r.status_code == 404
    assert r.json()["code"] == "container-not-found"
