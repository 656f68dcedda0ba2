from __future__ import annotations

import httpx

from tests.conftest import docker, run_sleeper


async def test_top(client: httpx.AsyncClient, name: str, image: str) -> None:
    run_sleeper(image, name)
    r = await client.get(f"/v1/containers/{name}/top")
    assert r.status_code == 200, r.text
    body = r.json()
    assert "PID" in body["titles"]
    cmd = body["titles"].index("CMD")
    assert [p[cmd] for p in body["processes"]] == ["sleep 600"]

    custom = (
        await client.get(f"/v1/containers/{name}/top", params={"ps_args": "-o pid,comm"})
    ).json()
    assert custom["titles"] == ["PID", "COMMAND"]
    assert custom["processes"][0][1] == "sleep"
    bad = await client.get(f"/v1/containers/{name}/top", params={"ps_args": "; rm -rf /"})
    assert bad.status_code == 422

    docker("stop", "-t", "0", name)
    stopped = await client.get(f"/v1/containers/{name}/top")
    assert stopped.status_code == 409
    assert stopped.json()["code"] == "container-not-running"
    docker("rm", "-f", name)


async def test_top_of_missing_container(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/containers/mt-no-such-container/top")
    assert r.status_code == 404
    assert r.json()["code"] == "container-not-found"
