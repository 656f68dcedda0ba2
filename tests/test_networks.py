"""Networks: create with IPAM, list, get with containers, connect with aliases and
static addresses (checked by DNS and by the address the container gets),
disconnect, remove (predefined / in use → 409), prune."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.models.networks import NetworkConnect, NetworkCreate
from tests.conftest import RUN_ID, TEST_LABEL, docker, exists, inspect
from tests.conftest import test_labels as our_labels

LABEL = f"{TEST_LABEL}={RUN_ID}"


def test_payloads() -> None:
    body = NetworkCreate.model_validate(
        {
            "name": "n",
            "internal": True,
            "ipam": {"pools": [{"subnet": "10.9.0.0/24", "gateway": "10.9.0.1"}]},
        }
    )
    doc = body.to_engine()
    assert doc["Internal"] is True
    assert doc["IPAM"]["Config"] == [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]
    connect = NetworkConnect(container="c", aliases=["web"], ipv4_address="10.9.0.5")
    assert connect.to_engine() == {
        "Container": "c",
        "EndpointConfig": {"Aliases": ["web"], "IPAMConfig": {"IPv4Address": "10.9.0.5"}},
    }


async def create_network(client: httpx.AsyncClient, name: str, **extra: Any) -> dict[str, Any]:
    """A labelled network on a random private /24 (retried on overlap with a neighbour's)."""
    for _ in range(10):
        third = random.randint(0, 255)
        second = random.randint(160, 250)
        body = {
            "name": name,
            "labels": our_labels(),
            "ipam": {
                "pools": [
                    {
                        "subnet": f"10.{second}.{third}.0/24",
                        "gateway": f"10.{second}.{third}.1",
                        "ip_range": f"10.{second}.{third}.128/25",
                    }
                ]
            },
            **extra,
        }
        r = await client.post("/v1/networks", json=body)
        if r.status_code == 409 and "overlap" in r.text:
            continue
        assert r.status_code == 201, r.text
        net: dict[str, Any] = r.json()
        return net
    raise AssertionError("no free subnet")


@pytest.fixture
async def net(client: httpx.AsyncClient, name: str) -> AsyncIterator[dict[str, Any]]:
    network = await create_network(client, name, attachable=True)
    yield network
    for cid in docker("ps", "-aq", "--filter", f"network={network['id']}").split():
        docker("rm", "-f", cid, check=False)
    docker("network", "rm", network["id"], check=False)


async def test_create_get_list(client: httpx.AsyncClient, net: dict[str, Any]) -> None:
    pool = net["ipam"]["pools"][0]
    assert pool["subnet"].endswith(".0/24")
    assert pool["gateway"].endswith(".1")
    assert pool["ip_range"].endswith(".128/25")
    assert net["driver"] == "bridge"
    assert net["attachable"] is True
    assert net["internal"] is False
    assert net["scope"] == "local"
    assert net["labels"] == our_labels()
    assert net["containers"] == []
    assert inspect("network", net["name"])["Id"] == net["id"]

    r = await client.get(f"/v1/networks/{net['name']}")
    assert r.status_code == 200
    assert r.json()["id"] == net["id"]
    r = await client.get(f"/v1/networks/{net['id'][:12]}")
    assert r.json()["name"] == net["name"]

    r = await client.get("/v1/networks", params={"label": LABEL, "name": net["name"]})
    assert [n["id"] for n in r.json()] == [net["id"]]
    r = await client.get("/v1/networks", params={"type": "builtin"})
    assert {"bridge", "host", "none"} <= {n["name"] for n in r.json()}
    r = await client.get("/v1/networks", params={"driver": "null", "label": LABEL})
    assert r.json() == []


async def test_internal_and_options(client: httpx.AsyncClient, name: str) -> None:
    net = await create_network(
        client, name, internal=True, options={"com.docker.network.bridge.enable_icc": "true"}
    )
    try:
        assert net["internal"] is True
        assert net["options"]["com.docker.network.bridge.enable_icc"] == "true"
        assert inspect("network", net["id"])["Internal"] is True
    finally:
        docker("network", "rm", net["id"])


async def test_ipv6_with_static_v6_address(
    client: httpx.AsyncClient, name: str, image: str
) -> None:
    prefix = f"fd00:{random.randint(1, 0xFFFF):x}:{random.randint(1, 0xFFFF):x}"
    v4 = f"10.{random.randint(160, 250)}.{random.randint(0, 255)}"
    r = await client.post(
        "/v1/networks",
        json={
            "name": name,
            "labels": our_labels(),
            "enable_ipv6": True,
            "ipam": {"pools": [{"subnet": f"{prefix}::/64"}, {"subnet": f"{v4}.0/24"}]},
        },
    )
    if r.status_code == 409 and "overlap" in r.text:
        pytest.skip("a neighbour's network overlaps the random subnet")
    assert r.status_code == 201, r.text
    net = r.json()
    try:
        assert net["enable_ipv6"] is True
        assert {p["subnet"] for p in net["ipam"]["pools"]} == {f"{prefix}::/64", f"{v4}.0/24"}
        cid = docker("create", "--label", LABEL, "--network", "none", image, "sleep", "60").strip()
        docker("network", "disconnect", "none", cid)
        r = await client.post(
            f"/v1/networks/{name}/connect",
            json={"container": cid, "ipv6_address": f"{prefix}::42", "ipv4_address": f"{v4}.42"},
        )
        assert r.status_code == 200, r.text
        docker("start", cid)
        (attached,) = (await client.get(f"/v1/networks/{name}")).json()["containers"]
        assert attached["ipv6_address"] == f"{prefix}::42"
        assert attached["ipv4_address"] == f"{v4}.42"
    finally:
        for c in docker("ps", "-aq", "--filter", f"network={net['id']}").split():
            docker("rm", "-f", c, check=False)
        docker("network", "rm", net["id"], check=False)


async def test_connect_alias_dns_and_static_address(
    client: httpx.AsyncClient, net: dict[str, Any], image: str, name: str
) -> None:
    subnet = net["ipam"]["pools"][0]["subnet"]
    static = subnet.replace(".0/24", ".10")
    # Created on the default network, then moved onto ours through the API.
    web = docker(
        "create", "--name", f"{name}-web", "--label", LABEL, image,
        "sh", "-c", "echo hello-from-web > /var/www/index.html && httpd -f -p 8080 -h /var/www",
    ).strip()  # fmt: skip
    r = await client.post(
        f"/v1/networks/{net['id']}/connect",
        json={"container": f"{name}-web", "aliases": ["web-alias"], "ipv4_address": static},
    )
    assert r.status_code == 200, r.text
    r = await client.post("/v1/networks/bridge/disconnect", json={"container": web})
    assert r.status_code == 200, r.text
    docker("start", web)

    r = await client.get(f"/v1/networks/{net['id']}")
    (attached,) = r.json()["containers"]
    assert attached["id"] == web
    r = await client.get("/v1/networks", params={"label": LABEL, "greedy": "true"})
    listed = {n["id"]: n for n in r.json()}
    assert listed[net["id"]]["containers"] == [attached]
    assert attached["name"] == f"{name}-web"
    assert attached["ipv4_address"] == static
    assert attached["mac_address"]
    settings = inspect("container", web)["NetworkSettings"]["Networks"][net["name"]]
    assert settings["IPAddress"] == static
    assert "web-alias" in settings["Aliases"]

    # (this busybox's wget crashes resolving names; nc, ping and nslookup do not)
    script = (
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 web-alias 8080"
        " && ping -c1 -W3 web-alias && nslookup web-alias"
    )
    out = docker(
        "run", "--rm", "--label", LABEL, "--network", net["name"], image, "sh", "-c", script
    )  # fmt: skip
    assert "hello-from-web" in out
    assert f"Address: {static}" in out
    assert f"PING web-alias ({static})" in out

    # connected twice: a conflict
    r = await client.post(f"/v1/networks/{net['id']}/connect", json={"container": web})
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    # in use: the network cannot go
    r = await client.delete(f"/v1/networks/{net['id']}")
    assert r.status_code == 409
    assert r.json()["code"] == "in-use"

    r = await client.post(
        f"/v1/networks/{net['id']}/disconnect", json={"container": web, "force": True}
    )
    assert r.status_code == 200, r.text
    assert r.json()["containers"] == []


async def test_connect_errors(
    client: httpx.AsyncClient, net: dict[str, Any], image: str, name: str
) -> None:
    r = await client.post(
        f"/v1/networks/{net['id']}/connect", json={"container": "mt-no-such-container"}
    )
    assert r.status_code == 404
    assert r.json()["code"] == "container-not-found"
    docker("create", "--name", name, "--label", LABEL, "--network", "none", image, "true")
    try:
        r = await client.post("/v1/networks/mt-no-such-net/connect", json={"container": name})
        assert r.status_code == 404
        assert r.json()["code"] == "network-not-found"
        r = await client.post(
            f"/v1/networks/{net['id']}/connect", json={"container": name, "alias": ["x"]}
        )
        assert r.status_code == 422
        assert "alias" in r.json()["detail"]
        r = await client.post(f"/v1/networks/{net['id']}/disconnect", json={"container": name})
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "conflict"
    finally:
        docker("rm", "-f", name)


async def test_remove_predefined_missing_and_duplicate(
    client: httpx.AsyncClient, net: dict[str, Any]
) -> None:
    for predefined in ("bridge", "host", "none"):
        r = await client.delete(f"/v1/networks/{predefined}")
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "conflict"
        assert "pre-defined" in r.json()["detail"]
    r = await client.delete("/v1/networks/mt-no-such-net")
    assert r.status_code == 404
    assert r.json()["code"] == "network-not-found"
    r = await client.get("/v1/networks/mt-no-such-net")
    assert r.json()["code"] == "network-not-found"
    r = await client.post("/v1/networks", json={"name": net["name"], "labels": our_labels()})
    assert r.status_code == 409
    assert r.json()["code"] == "name-in-use"
    r = await client.post("/v1/networks", json={"name": "x", "ipam": {"pools": [{"subnt": 1}]}})
    assert r.status_code == 422


async def test_delete_and_prune(client: httpx.AsyncClient, name: str) -> None:
    first = await create_network(client, f"{name}-a")
    r = await client.delete(f"/v1/networks/{first['name']}")
    assert r.status_code == 204
    assert not exists("network", first["id"])

    marker = f"mt-prune={name}"
    second = await create_network(client, f"{name}-b", labels={**our_labels(), "mt-prune": name})
    r = await client.post("/v1/networks/prune", json={"filters": {"label": marker}})
    assert r.status_code == 200, r.text
    assert r.json()["deleted"] == [second["name"]]
    assert not exists("network", second["id"])


@pytest.mark.parametrize(
    ("pool", "field"),
    [
        ({"gateway": "10.77.0.1", "ip_range": "10.77.0.128/25"}, "subnet"),
        ({}, "subnet"),
        ({"subnet": "10.77.0.0/33"}, "subnet"),
        ({"subnet": "10.77.0.0/24", "gateway": "10.77.0.300"}, "gateway"),
    ],
)
async def test_bad_pool_is_422_and_nothing_is_made(
    client: httpx.AsyncClient, name: str, pool: dict[str, Any], field: str
) -> None:
    """A pool the engine would refuse (its 502) is the caller's mistake, named."""
    r = await client.post("/v1/networks", json={"name": name, "ipam": {"pools": [pool]}})
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]
    assert not exists("network", name)
