"""Volumes: create, list with filters, get, remove (in use → 409), prune."""

from __future__ import annotations

import httpx

from app.models.volumes import VolumeCreate
from tests.conftest import RUN_ID, TEST_LABEL, docker, exists, inspect
from tests.conftest import test_labels as our_labels


def test_create_payload() -> None:
    body = VolumeCreate(name="v", driver_opts={"type": "tmpfs"}, labels={"a": "b"})
    assert body.to_engine() == {
        "Name": "v",
        "Driver": "local",
        "DriverOpts": {"type": "tmpfs"},
        "Labels": {"a": "b"},
    }


async def test_create_get_list_delete(client: httpx.AsyncClient, name: str) -> None:
    r = await client.post(
        "/v1/volumes",
        json={
            "name": name,
            "driver": "local",
            "driver_opts": {"type": "tmpfs", "device": "tmpfs", "o": "size=8m"},
            "labels": our_labels(team="a"),
        },
    )
    assert r.status_code == 201, r.text
    vol = r.json()
    assert vol["name"] == name
    assert vol["driver"] == "local"
    assert vol["labels"] == our_labels(team="a")
    assert vol["options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=8m"}
    assert vol["mountpoint"] == inspect("volume", name)["Mountpoint"]
    assert vol["scope"] == "local"
    assert vol["created"]

    r = await client.get(f"/v1/volumes/{name}")
    assert r.status_code == 200
    assert r.json()["options"]["o"] == "size=8m"

    r = await client.get("/v1/volumes", params={"label": [f"{TEST_LABEL}={RUN_ID}", "team=a"]})
    assert name in [v["name"] for v in r.json()]
    r = await client.get("/v1/volumes", params={"label": "team=b", "name": name})
    assert r.json() == []
    r = await client.get("/v1/volumes", params={"name": name, "dangling": "true"})
    assert [v["name"] for v in r.json()] == [name]

    r = await client.delete(f"/v1/volumes/{name}")
    assert r.status_code == 204
    assert not exists("volume", name)


async def test_anonymous_volume_gets_a_name(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/volumes", json={"labels": our_labels()})
    assert r.status_code == 201
    generated = r.json()["name"]
    assert len(generated) == 64
    docker("volume", "rm", generated)


async def test_not_found_in_use_and_bad_bodies(
    client: httpx.AsyncClient, name: str, image: str
) -> None:
    r = await client.get("/v1/volumes/mt-no-such-volume")
    assert r.status_code == 404
    assert r.json()["code"] == "volume-not-found"
    r = await client.delete("/v1/volumes/mt-no-such-volume")
    assert r.status_code == 404
    assert r.json()["code"] == "volume-not-found"

    docker("volume", "create", "--label", f"{TEST_LABEL}={RUN_ID}", name)
    docker(
        "create", "--name", name, "--label", f"{TEST_LABEL}={RUN_ID}",
        "-v", f"{name}:/data", image, "true",
    )  # fmt: skip
    try:
        r = await client.delete(f"/v1/volumes/{name}")
        assert r.status_code == 409
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "in-use"
        r = await client.get("/v1/volumes", params={"name": name, "dangling": "false"})
        assert [v["name"] for v in r.json()] == [name]
    finally:
        docker("rm", "-f", name)
    r = await client.delete(f"/v1/volumes/{name}", params={"force": "true"})
    assert r.status_code == 204

    r = await client.post("/v1/volumes", json={"name": "x", "drivr": "local"})
    assert r.status_code == 422
    assert "drivr" in r.json()["detail"]
    r = await client.post("/v1/volumes", json={"name": "bad/name"})
    assert r.status_code == 422
    r = await client.get("/v1/volumes/a..b")
    assert r.status_code in (404, 422)


async def test_prune_with_label_filter(client: httpx.AsyncClient, name: str, image: str) -> None:
    keep_label = f"mt-prune-{name}"
    unused, used = f"{name}-unused", f"{name}-used"
    for vol in (unused, used):
        docker("volume", "create", "--label", f"{TEST_LABEL}={RUN_ID}",
               "--label", keep_label, vol)  # fmt: skip
    docker("run", "--rm", "--network", "none", "-v", f"{unused}:/d", image,
           "sh", "-c", "head -c 5000 /dev/zero > /d/f")  # fmt: skip
    docker("create", "--name", name, "--label", f"{TEST_LABEL}={RUN_ID}",
           "-v", f"{used}:/d", image, "true")  # fmt: skip
    try:
        r = await client.post("/v1/volumes/prune", json={"filters": {"label": keep_label}})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["deleted"] == [unused]
        assert body["space_reclaimed"] >= 5000
        assert not exists("volume", unused)
        assert exists("volume", used)
        r = await client.post("/v1/volumes/prune", json={"filters": {"bogus": "1"}})
        assert r.status_code == 400
        assert r.json()["code"] == "bad-request"
    finally:
        docker("rm", "-f", name)
        docker("volume", "rm", "-f", used, unused, check=False)
