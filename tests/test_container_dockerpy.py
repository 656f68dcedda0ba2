"""Every keyword of docker-py's `containers.run()`, through `POST /v1/containers`, checked
in `docker inspect` (the engine's truth), one assertion per field; and a walk of
docker-py's own keyword lists so that nothing is left out silently."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from app.models.containers import ContainerSpec, Mount, Resources, Security
from tests.conftest import RUN_ID, TEST_IMAGE, TEST_LABEL, docker, exists, inspect
from tests.conftest import test_labels as labels

# ---------------------------------------------------------------------------------------
# docker-py's own lists against ContainerSpec.

# docker-py keywords that moorage spells otherwise (API.md's ContainerSpec names).
RENAMED = {
    "mem_limit": "resources.memory",
    "mem_reservation": "resources.memory_reservation",
    "memswap_limit": "resources.memory_swap",
    "nano_cpus": "resources.cpus",
    "network_mode": "network",
    "networking_config": "networks",
    "remove": "POST /v1/containers/run `remove`",
    "detach": "POST /v1/containers (detach=True) or POST /v1/containers/run (detach=False)",
}
# Left out, and why (API.md names the Windows-only and removed ones).
LEFT_OUT = {
    "isolation": "Windows only",
    "cpu_count": "Windows only",
    "cpu_percent": "Windows only",
    "kernel_memory": "removed from the engine (ignored since 20.10, gone in API 1.42)",
    "lxc_conf": "removed from the engine (LXC driver gone since 1.10)",
    "links": "legacy links: removed (use networks with aliases)",
    "init_path": "removed from the engine (API 1.25 dropped it)",
    "version": "docker-py's own client API version, not a container setting",
    "use_config_proxy": "reads the caller's ~/.docker/config.json; give environment instead",
    "stream": "docker-py client-side output handling (moorage streams logs itself)",
    "stdout": "client-side (run returns both; logs take stdout/stderr)",
    "stderr": "client-side (run returns both; logs take stdout/stderr)",
}
RESOURCES = set(Resources.model_fields)
SECURITY = set(Security.model_fields)


def _docker_py_keywords() -> set[str]:
    from docker.models.containers import (  # type: ignore[import-untyped]
        RUN_CREATE_KWARGS,
        RUN_HOST_CONFIG_KWARGS,
        ContainerCollection,
    )

    documented = set(re.findall(r"^\s{12}(\w+) \(", ContainerCollection.run.__doc__ or "", re.M))
    return set(RUN_CREATE_KWARGS) | set(RUN_HOST_CONFIG_KWARGS) | documented


def _where(keyword: str) -> str | None:
    if keyword in RENAMED:
        return RENAMED[keyword]
    if keyword in ContainerSpec.model_fields:
        return keyword
    if keyword in RESOURCES:
        return f"resources.{keyword}"
    if keyword in SECURITY:
        return f"security.{keyword}"
    return None


def test_every_docker_py_keyword_has_a_place() -> None:
    missing = sorted(k for k in _docker_py_keywords() if k not in LEFT_OUT and not _where(k))
    assert missing == [], f"docker-py keywords with no ContainerSpec field: {missing}"


def test_left_out_really_are_refused() -> None:
    """A keyword left out is a 422, never silently dropped."""
    for keyword in ("isolation", "cpu_count", "kernel_memory", "lxc_conf", "links"):
        with pytest.raises(ValueError, match=keyword):
            ContainerSpec.model_validate({"image": "x", keyword: 1})


def test_resources_as_api_md_places_them() -> None:
    for keyword in (
        "cpu_period",
        "cpu_quota",
        "cpuset_mems",
        "cpu_rt_period",
        "cpu_rt_runtime",
        "mem_swappiness",
        "blkio_weight_device",
        "device_read_bps",
        "device_read_iops",
        "device_write_bps",
        "device_write_iops",
    ):
        assert keyword in RESOURCES
        assert keyword not in ContainerSpec.model_fields


def test_every_docker_py_mount_option() -> None:
    import inspect as pyinspect

    from docker.types import Mount as DockerPyMount  # type: ignore[import-untyped]

    params = set(pyinspect.signature(DockerPyMount.__init__).parameters) - {"self"}
    # `subpath` is VolumeOptions.Subpath of API 1.45 (engine 26): 1.41 has no such option.
    assert params - set(Mount.model_fields) == {"subpath"}


# ---------------------------------------------------------------------------------------
# Pure translation of the new shapes.


def payload(**spec: Any) -> dict[str, Any]:
    return ContainerSpec.model_validate({"image": "busybox", **spec}).to_engine()


def test_extra_hosts_forms() -> None:
    want = ["db:10.0.0.5", "gw:host-gateway", "v6:fd00::1"]
    as_dict = {"db": "10.0.0.5", "gw": "host-gateway", "v6": "fd00::1"}
    assert payload(extra_hosts=as_dict)["HostConfig"]["ExtraHosts"] == want
    assert payload(extra_hosts=want)["HostConfig"]["ExtraHosts"] == want


@pytest.mark.parametrize(
    "bad",
    [
        {"extra_hosts": {"db": "not-an-ip"}},
        {"extra_hosts": ["nocolon"]},
        {"shm_size": "64q"},
        {"oom_score_adj": 5000},
        {"cgroupns": "shared"},
        {"mac_address": "zz:zz"},
        {"resources": {"cpu_period": 10}},
        {"resources": {"device_read_bps": [{"path": "dev/sda", "rate": 1}]}},
        {"mounts": [{"type": "volume", "target": "/d", "propagation": "rshared"}]},
        {"mounts": [{"type": "bind", "source": "/srv", "target": "/d", "tmpfs_size": 1}]},
        {"mounts": [{"type": "tmpfs", "target": "/d", "no_copy": True}]},
        {"network": "container:x", "hostname": "h"},
        {"networks": [{"name": "a"}, {"name": "a"}]},
        {"networks": [{"name": "a", "ipv4_address": "fd00::1"}]},
        {"networks": [{"name": "a"}], "network": "b"},
        {"networks": [{"name": "a"}, {"name": "b", "mac_address": "02:42:ac:11:00:99"}]},
        {"networks": [{"name": "a", "link_local_ips": ["nope"]}]},
        {"device_cgroup_rules": ["x 1:3 mr"]},
        {"log_config": {"type": "json-file", "config": {"max-size": "1m"}, "extra": 1}},
    ],
)
def test_bad_values_are_422(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="validation error"):
        ContainerSpec.model_validate({"image": "busybox", **bad})


def test_docker_py_pascal_case_dicts() -> None:
    body = payload(
        resources={
            "device_read_bps": [{"Path": "/dev/sda", "Rate": 1024}],
            "blkio_weight_device": [{"Path": "/dev/sda", "Weight": 300}],
        },
        device_requests=[{"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}],
        log_config={"Type": "json-file", "Config": {"max-file": 3}},
    )
    host = body["HostConfig"]
    assert host["BlkioDeviceReadBps"] == [{"Path": "/dev/sda", "Rate": 1024}]
    assert host["BlkioWeightDevice"] == [{"Path": "/dev/sda", "Weight": 300}]
    assert host["DeviceRequests"][0]["Count"] == -1
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "3"}}


# ---------------------------------------------------------------------------------------
# Against the engine: one container with every field, then one assertion per field.

BLOCK = "/dev/loop0"


@pytest.fixture(scope="module")
def network() -> Iterator[dict[str, str]]:
    """Two user networks (one dual-stack) for static addresses."""
    octet = random.randint(16, 250)
    nets = {
        "a": f"mt-dp-a-{uuid.uuid4().hex[:6]}",
        "b": f"mt-dp-b-{uuid.uuid4().hex[:6]}",
        "subnet_a": f"10.{octet}.1.0/24",
        "subnet_b": f"10.{octet}.2.0/24",
        "v6": f"fd{octet:02x}:dead:beef::/64",
    }
    docker(
        "network", "create", "--label", f"{TEST_LABEL}={RUN_ID}",
        "--subnet", nets["subnet_a"], nets["a"],
    )  # fmt: skip
    docker(
        "network", "create", "--label", f"{TEST_LABEL}={RUN_ID}", "--ipv6",
        "--subnet", nets["subnet_b"], "--subnet", nets["v6"], nets["b"],
    )  # fmt: skip
    yield nets
    for key in ("a", "b"):
        docker("network", "rm", nets[key], check=False)


@pytest.fixture(scope="module")
async def everything(
    client: httpx.AsyncClient, network: dict[str, str]
) -> AsyncIterator[dict[str, Any]]:
    """Created (not started: a device request needs a GPU to start) with every field."""
    octet = network["subnet_a"].split(".")[1]
    name = f"mt-dp-all-{uuid.uuid4().hex[:6]}"
    spec = {
        "image": TEST_IMAGE,
        "name": name,
        "command": ["sleep", "600"],
        "labels": labels(),
        "start": False,
        "dns": ["10.0.0.53"],
        "dns_search": ["example.test"],
        "dns_opt": ["ndots:2"],
        "extra_hosts": {"db.local": "10.0.0.5", "host.docker.internal": "host-gateway"},
        "shm_size": "64m",
        "stop_signal": "SIGINT",
        "stop_timeout": 7,
        "log_config": {"type": "json-file", "config": {"max-size": "10m", "max-file": "3"}},
        "device_requests": [
            {"driver": "nvidia", "count": -1, "capabilities": [["gpu", "utility"]]}
        ],
        "runtime": "runc",
        "platform": "linux/amd64",
        "domainname": "example.test",
        "group_add": ["1234"],
        "stdin_open": True,
        "publish_all_ports": True,
        "volume_driver": "local",
        "cgroup_parent": "moorage-test",
        "cgroupns": "private",
        "uts_mode": "",
        "oom_kill_disable": True,
        "oom_score_adj": 100,
        "device_cgroup_rules": ["c 1:3 mr"],
        "ports": {"8000/tcp": None},
        "resources": {
            "memory": "64m",
            "cpu_period": 100000,
            "cpu_quota": 50000,
            "cpuset_mems": "0",
            "cpu_rt_period": 100000,
            "cpu_rt_runtime": 1000,
            "mem_swappiness": 50,
            "blkio_weight_device": [{"path": BLOCK, "weight": 300}],
            "device_read_bps": [{"path": BLOCK, "rate": 1048576}],
            "device_read_iops": [{"path": BLOCK, "rate": 100}],
            "device_write_bps": [{"path": BLOCK, "rate": 2097152}],
            "device_write_iops": [{"path": BLOCK, "rate": 200}],
        },
        "networks": [
            {
                "name": network["a"],
                "aliases": ["web-a"],
                "ipv4_address": f"10.{octet}.1.50",
                "mac_address": "02:42:0a:00:01:32",
            },
            {
                "name": network["b"],
                "aliases": ["web-b"],
                "ipv4_address": f"10.{octet}.2.60",
                "ipv6_address": network["v6"].replace("::/64", "::60"),
                "link_local_ips": ["169.254.10.60"],
            },
        ],
        "mounts": [
            {
                "type": "volume",
                "target": "/vol",
                "no_copy": True,
                "labels": labels(),
                "driver_config": {"name": "local", "options": {}},
                "consistency": "delegated",
            },
            {"type": "bind", "source": "/srv", "target": "/srv", "propagation": "rslave"},
            {"type": "tmpfs", "target": "/scratch", "tmpfs_size": "16m", "tmpfs_mode": 0o1770},
        ],
    }
    r = await client.post("/v1/containers", json=spec)
    assert r.status_code == 201, r.text
    doc = inspect("container", name)
    yield {"doc": doc, "warnings": r.json()["warnings"], "net": network, "octet": octet}
    docker("rm", "-fv", name, check=False)


def _get(doc: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


# (docker-py keyword, inspect path, expected)
FIELDS: list[tuple[str, str, Any]] = [
    ("dns", "HostConfig.Dns", ["10.0.0.53"]),
    ("dns_search", "HostConfig.DnsSearch", ["example.test"]),
    ("dns_opt", "HostConfig.DnsOptions", ["ndots:2"]),
    (
        "extra_hosts",
        "HostConfig.ExtraHosts",
        ["db.local:10.0.0.5", "host.docker.internal:host-gateway"],
    ),
    ("shm_size", "HostConfig.ShmSize", 64 << 20),
    ("stop_signal", "Config.StopSignal", "SIGINT"),
    ("stop_timeout", "Config.StopTimeout", 7),
    (
        "log_config",
        "HostConfig.LogConfig",
        {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
    ),
    (
        "device_requests",
        "HostConfig.DeviceRequests",
        [
            {
                "Driver": "nvidia",
                "Count": -1,
                "DeviceIDs": [],
                "Capabilities": [["gpu", "utility"]],
                "Options": {},
            }
        ],
    ),
    ("runtime", "HostConfig.Runtime", "runc"),
    ("platform", "Platform", "linux"),
    ("domainname", "Config.Domainname", "example.test"),
    ("group_add", "HostConfig.GroupAdd", ["1234"]),
    ("stdin_open", "Config.OpenStdin", True),
    ("publish_all_ports", "HostConfig.PublishAllPorts", True),
    ("volume_driver", "HostConfig.VolumeDriver", "local"),
    ("cgroup_parent", "HostConfig.CgroupParent", "moorage-test"),
    ("cgroupns", "HostConfig.CgroupnsMode", "private"),
    ("uts_mode", "HostConfig.UTSMode", ""),
    ("oom_kill_disable", "HostConfig.OomKillDisable", True),
    ("oom_score_adj", "HostConfig.OomScoreAdj", 100),
    ("device_cgroup_rules", "HostConfig.DeviceCgroupRules", ["c 1:3 mr"]),
    ("resources.cpu_period", "HostConfig.CpuPeriod", 100000),
    ("resources.cpu_quota", "HostConfig.CpuQuota", 50000),
    ("resources.cpuset_mems", "HostConfig.CpusetMems", "0"),
    ("resources.cpu_rt_period", "HostConfig.CpuRealtimePeriod", 100000),
    ("resources.cpu_rt_runtime", "HostConfig.CpuRealtimeRuntime", 1000),
    ("resources.mem_swappiness", "HostConfig.MemorySwappiness", 50),
    (
        "resources.device_read_bps",
        "HostConfig.BlkioDeviceReadBps",
        [{"Path": BLOCK, "Rate": 1048576}],
    ),
    (
        "resources.device_read_iops",
        "HostConfig.BlkioDeviceReadIOps",
        [{"Path": BLOCK, "Rate": 100}],
    ),
    (
        "resources.device_write_bps",
        "HostConfig.BlkioDeviceWriteBps",
        [{"Path": BLOCK, "Rate": 2097152}],
    ),
    (
        "resources.device_write_iops",
        "HostConfig.BlkioDeviceWriteIOps",
        [{"Path": BLOCK, "Rate": 200}],
    ),
    ("mounts[0].no_copy", "HostConfig.Mounts.0.VolumeOptions.NoCopy", True),
    ("mounts[0].labels", "HostConfig.Mounts.0.VolumeOptions.Labels", {TEST_LABEL: RUN_ID}),
    (
        "mounts[0].driver_config",
        "HostConfig.Mounts.0.VolumeOptions.DriverConfig",
        {"Name": "local"},
    ),
    ("mounts[0].consistency", "HostConfig.Mounts.0.Consistency", "delegated"),
    ("mounts[1].propagation", "HostConfig.Mounts.1.BindOptions.Propagation", "rslave"),
    ("mounts[2].tmpfs_size", "HostConfig.Mounts.2.TmpfsOptions.SizeBytes", 16 << 20),
    ("mounts[2].tmpfs_mode", "HostConfig.Mounts.2.TmpfsOptions.Mode", 0o1770),
]


@pytest.mark.parametrize(("keyword", "path", "expected"), FIELDS, ids=[f[0] for f in FIELDS])
async def test_field_reaches_the_engine(
    everything: dict[str, Any], keyword: str, path: str, expected: Any
) -> None:
    assert _get(everything["doc"], path) == expected


async def test_blkio_weight_device_discarded_with_a_warning(everything: dict[str, Any]) -> None:
    """This kernel (cgroup v1 without CFQ) cannot weigh devices: the engine drops the
    setting and says so; moorage passes the warning on instead of hiding it."""
    host = everything["doc"]["HostConfig"]
    assert host["BlkioWeightDevice"] == [{"Path": BLOCK, "Weight": 300}] or any(
        "weight_device" in w.lower() for w in everything["warnings"]
    )


@pytest.mark.parametrize("which", ["a", "b"])
async def test_networks_aliases_and_static_addresses(
    everything: dict[str, Any], which: str
) -> None:
    nets = everything["doc"]["NetworkSettings"]["Networks"]
    octet = everything["octet"]
    ep = nets[everything["net"][which]]
    if which == "a":
        assert (ep["Aliases"][0], ep["IPAMConfig"]["IPv4Address"]) == ("web-a", f"10.{octet}.1.50")
    else:
        want_v6 = everything["net"]["v6"].replace("::/64", "::60")
        assert (ep["Aliases"][0], ep["IPAMConfig"]) == (
            "web-b",
            {
                "IPv4Address": f"10.{octet}.2.60",
                "IPv6Address": want_v6,
                "LinkLocalIPs": ["169.254.10.60"],
            },
        )


async def test_mac_address_of_the_first_network(everything: dict[str, Any]) -> None:
    assert everything["doc"]["Config"]["MacAddress"] == "02:42:0a:00:01:32"


async def create_sleeper(client: httpx.AsyncClient, name: str, **fields: Any) -> httpx.Response:
    """POST /v1/containers: a labelled sleeper of the test image, with these fields."""
    body = {"image": TEST_IMAGE, "name": name, "command": ["sleep", "600"], "labels": labels()}
    return await client.post("/v1/containers", json={**body, **fields})


async def test_networks_addresses_once_started(
    client: httpx.AsyncClient, network: dict[str, str], name: str
) -> None:
    octet = network["subnet_a"].split(".")[1]
    r = await create_sleeper(
        client,
        name,
        networks=[
            {"name": network["a"], "ipv4_address": f"10.{octet}.1.70",
             "mac_address": "02:42:0a:00:01:46"},
            {"name": network["b"], "ipv4_address": f"10.{octet}.2.70"},
        ],
    )  # fmt: skip
    assert r.status_code == 201, r.text
    nets = inspect("container", name)["NetworkSettings"]["Networks"]
    assert (
        nets[network["a"]]["IPAddress"],
        nets[network["a"]]["MacAddress"],
        nets[network["b"]]["IPAddress"],
    ) == (f"10.{octet}.1.70", "02:42:0a:00:01:46", f"10.{octet}.2.70")


async def test_networks_all_or_nothing(
    client: httpx.AsyncClient, network: dict[str, str], name: str
) -> None:
    """The second network is missing: no container is left behind."""
    r = await create_sleeper(
        client,
        name,
        networks=[{"name": network["a"]}, {"name": f"mt-nope-{uuid.uuid4().hex[:6]}"}],
    )
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "network-not-found"
    assert not exists("container", name)


async def test_network_container_join(client: httpx.AsyncClient, name: str) -> None:
    docker(
        "run", "-d", "--label", f"{TEST_LABEL}={RUN_ID}", "--name", f"{name}-host",
        TEST_IMAGE, "sleep", "600",
    )  # fmt: skip
    r = await create_sleeper(
        client,
        name,
        network=f"container:{name}-host",
    )
    assert r.status_code == 201, r.text
    other = inspect("container", f"{name}-host")["Id"]
    assert inspect("container", name)["HostConfig"]["NetworkMode"] == f"container:{other}"


async def test_volumes_from(client: httpx.AsyncClient, name: str) -> None:
    docker(
        "create", "--label", f"{TEST_LABEL}={RUN_ID}", "--name", f"{name}-src",
        "-v", "/data", TEST_IMAGE, "true",
    )  # fmt: skip
    r = await client.post(
        "/v1/containers",
        json={
            "image": TEST_IMAGE,
            "name": name,
            "start": False,
            "labels": labels(),
            "volumes_from": [f"{name}-src:ro"],
        },
    )
    assert r.status_code == 201, r.text
    assert inspect("container", name)["HostConfig"]["VolumesFrom"] == [f"{name}-src:ro"]
    docker("rm", "-fv", f"{name}-src", check=False)


async def test_mac_address_and_network_disabled(client: httpx.AsyncClient, name: str) -> None:
    r = await client.post(
        "/v1/containers",
        json={
            "image": TEST_IMAGE,
            "name": name,
            "start": False,
            "labels": labels(),
            "mac_address": "02:42:ac:11:00:99",
            "network_disabled": True,
        },
    )
    assert r.status_code == 201, r.text
    config = inspect("container", name)["Config"]
    assert (config["MacAddress"], config["NetworkDisabled"]) == ("02:42:ac:11:00:99", True)


async def test_storage_opt_refused_by_this_engine_is_4xx(
    client: httpx.AsyncClient, name: str
) -> None:
    """overlay2 on this disk has no quotas: the engine refuses; a 400 naming it, no container."""
    r = await client.post(
        "/v1/containers",
        json={
            "image": TEST_IMAGE,
            "name": name,
            "start": False,
            "labels": labels(),
            "storage_opt": {"size": "1G"},
        },
    )
    assert r.status_code == 400, r.text
    assert "storage-opt" in r.json()["detail"].lower()
    assert not exists("container", name)


async def test_update_cpu_period_quota_cpuset_mems(client: httpx.AsyncClient, name: str) -> None:
    """docker-py `Container.update(cpu_period=, cpu_quota=, cpuset_mems=)`."""
    docker(
        "run", "-d", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}",
        "--name", name, TEST_IMAGE, "sleep", "600",
    )  # fmt: skip
    r = await client.patch(
        f"/v1/containers/{name}",
        json={"resources": {"cpu_period": 100000, "cpu_quota": 25000, "cpuset_mems": "0"}},
    )
    assert r.status_code == 200, r.text
    host = inspect("container", name)["HostConfig"]
    assert (host["CpuPeriod"], host["CpuQuota"], host["CpusetMems"]) == (100000, 25000, "0")


async def test_network_create_scope_and_connect_link_local_ips(
    client: httpx.AsyncClient, name: str
) -> None:
    """docker-py `networks.create(scope=)` and `network.connect(link_local_ips=)`."""
    r = await client.post(
        "/v1/networks", json={"name": f"{name}-net", "scope": "local", "labels": labels()}
    )
    assert r.status_code == 201, r.text
    assert inspect("network", f"{name}-net")["Scope"] == "local"
    docker(
        "create", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}", "--name", name,
        TEST_IMAGE, "sleep", "600",
    )  # fmt: skip
    docker("network", "disconnect", "none", name)
    r = await client.post(
        f"/v1/networks/{name}-net/connect",
        json={"container": name, "link_local_ips": ["169.254.20.20"]},
    )
    assert r.status_code in (200, 204), r.text
    ep = inspect("container", name)["NetworkSettings"]["Networks"][f"{name}-net"]
    assert ep["IPAMConfig"]["LinkLocalIPs"] == ["169.254.20.20"]
    docker("rm", "-f", name, check=False)
    docker("network", "rm", f"{name}-net", check=False)


async def test_unknown_platform_is_4xx_and_nothing_made(
    client: httpx.AsyncClient, name: str
) -> None:
    r = await client.post(
        "/v1/containers",
        json={"image": TEST_IMAGE, "name": name, "labels": labels(), "platform": "0"},
    )
    assert 400 <= r.status_code < 500, r.text
    assert not exists("container", name)


@pytest.mark.slow
async def test_recreate_keeps_static_addresses_on_every_network(
    client: httpx.AsyncClient, network: dict[str, str], name: str
) -> None:
    octet = network["subnet_a"].split(".")[1]
    r = await create_sleeper(
        client,
        name,
        networks=[
            {"name": network["a"], "aliases": ["db"], "ipv4_address": f"10.{octet}.1.80"},
            {"name": network["b"], "ipv4_address": f"10.{octet}.2.80"},
        ],
    )
    assert r.status_code == 201, r.text
    old = r.json()["id"]
    r = await client.post(f"/v1/containers/{name}/recreate", json={"pull": False})
    assert r.status_code == 200, r.text
    doc = inspect("container", name)
    nets = doc["NetworkSettings"]["Networks"]
    assert doc["Id"] != old
    assert (
        nets[network["a"]]["IPAddress"],
        "db" in nets[network["a"]]["Aliases"],
        nets[network["b"]]["IPAddress"],
    ) == (f"10.{octet}.1.80", True, f"10.{octet}.2.80")


async def test_network_scope_swarm_outside_a_swarm_is_409(
    client: httpx.AsyncClient, name: str
) -> None:
    r = await client.post("/v1/networks", json={"name": name, "scope": "swarm", "labels": labels()})
    assert r.status_code == 409, r.text  # the engine answers 403 or 500 by version: both 409
    assert "swarm" in r.json()["detail"]
    assert not exists("network", name)
