"""The policy catalogue for docker-py's fields (`Policy.check_engine_fields`): each
attempt through `POST /v1/containers` is a 403 naming the rule, and nothing is made
on the engine; what the policy knows to be harmless still goes through."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import errors
from app.policy import HOST_CONFIG_KEYS, Policy
from app.settings import Settings
from tests.conftest import (
    RUN_ID,
    TEST_IMAGE,
    TEST_LABEL,
    docker,
    exists,
    guarded_engine,
    in_process,
    inspect,
    refused,
)
from tests.conftest import test_labels as labels


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy-dockerpy") / "policy.toml"
    path.write_text('allowed_cgroup_parents = ["moorage-ok"]\n')
    return path


@pytest.fixture(scope="module")
def policy(policy_file: Path) -> Policy:
    return Policy.load(policy_file)


@pytest.fixture(scope="module")
async def policy_client(policy_file: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(Settings(policy_file=policy_file, audit_db=":memory:")) as (_, c):
        yield c


@pytest.fixture(scope="module")
def outsiders() -> Iterator[dict[str, str]]:
    """Containers made outside moorage: one on the host network, one privileged."""
    tag = uuid.uuid4().hex[:6]
    made = {"hostnet": f"mt-pdp-hostnet-{tag}", "priv": f"mt-pdp-priv-{tag}"}
    flags = ["--label", f"{TEST_LABEL}={RUN_ID}"]
    docker("create", *flags, "--network", "host", "--name", made["hostnet"], TEST_IMAGE, "true")
    docker("create", *flags, "--privileged", "--network", "none", "--name", made["priv"],
           TEST_IMAGE, "true")  # fmt: skip
    yield made
    for ref in made.values():
        docker("rm", "-f", ref, check=False)


# (id, ContainerSpec fields (a callable of the outsiders), the rule named)
CATALOGUE: list[tuple[str, Any, str]] = [
    ("gpu-device-requests",
     lambda o: {"device_requests": [{"count": -1, "capabilities": [["gpu"]]}]}, "allow_devices"),
    ("device-cgroup-rules", lambda o: {"device_cgroup_rules": ["c *:* rwm"]}, "allow_devices"),
    ("runtime-other", lambda o: {"runtime": "io.containerd.runtime.v1.linux"}, "allow_unconfined"),
    ("cgroup-parent", lambda o: {"cgroup_parent": "/"}, "allowed_cgroup_parents"),
    ("cgroup-parent-system", lambda o: {"cgroup_parent": "system.slice"}, "allowed_cgroup_parents"),
    ("cgroupns-host", lambda o: {"cgroupns": "host"}, "allow_host_namespaces"),
    ("uts-host", lambda o: {"uts_mode": "host"}, "allow_host_namespaces"),
    ("network-container-of-host-net", lambda o: {"network": f"container:{o['hostnet']}"},
     "allow_host_namespaces"),
    ("network-container-of-privileged", lambda o: {"network": f"container:{o['priv']}"},
     "allow_privileged"),
    ("storage-opt-driver-tuning", lambda o: {"storage_opt": {"dm.basesize": "100G"}},
     "storage_opt"),
    ("log-syslog-unix-socket", lambda o: {"log_config": {"type": "syslog", "config": {
        "syslog-address": "unix:///dev/log"}}}, "allowed_log_drivers"),
    ("log-gelf-network", lambda o: {"log_config": {"type": "gelf", "config": {
        "gelf-address": "udp://10.0.0.1:12201"}}}, "allowed_log_drivers"),
    ("log-fluentd-network", lambda o: {"log_config": {"type": "fluentd"}},
     "allowed_log_drivers"),
    ("log-splunk", lambda o: {"log_config": {"type": "splunk"}}, "allowed_log_drivers"),
    ("oom-kill-disable-unlimited", lambda o: {"oom_kill_disable": True}, "oom_kill_disable"),
    ("oom-score-adj-negative", lambda o: {"oom_score_adj": -900}, "oom_score_adj"),
    ("volume-driver-plugin", lambda o: {"volume_driver": "evil-plugin", "volumes": ["v1:/v"]},
     "allowed_volume_drivers"),
    ("mount-driver-config-plugin", lambda o: {"mounts": [{"type": "volume", "target": "/v",
     "driver_config": {"name": "evil-plugin"}}]}, "allowed_volume_drivers"),
    ("second-network-is-host", lambda o: {"networks": [{"name": "bridge"}, {"name": "host"}]},
     "allow_host_namespaces"),
]  # fmt: skip


@pytest.mark.engine
@pytest.mark.parametrize(("case", "spec", "rule"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
async def test_refused_and_nothing_created(
    policy_client: httpx.AsyncClient,
    outsiders: dict[str, str],
    name: str,
    case: str,
    spec: Any,
    rule: str,
) -> None:
    body = {"image": TEST_IMAGE, "command": ["sleep", "60"], "name": name, "labels": labels()}
    body.update(spec(outsiders))
    refused(await policy_client.post("/v1/containers", json=body), rule)
    assert not exists("container", name)


# Raw engine payloads: keys the policy cannot judge are refused, whatever their case.
RAW: list[tuple[str, dict[str, Any], str]] = [
    ("links", {"Links": ["/other:alias"]}, "Links"),
    ("cgroup-of-another", {"Cgroup": "container:x"}, "Cgroup"),
    ("kernel-memory", {"KernelMemory": 1 << 30}, "KernelMemory"),
    ("made-up-future-key", {"HostPidUnconfined": True}, "HostPidUnconfined"),
    ("lowercase-unknown", {"links": ["/x:y"]}, "links"),
]


@pytest.mark.parametrize(("case", "host", "key"), RAW, ids=[c[0] for c in RAW])
def test_unknown_host_config_key_is_refused(
    policy: Policy, case: str, host: dict[str, Any], key: str
) -> None:
    with pytest.raises(errors.PolicyViolation, match=rf"^unknown-field: .*{key}"):
        policy.check_container_config({"Image": TEST_IMAGE, "HostConfig": host})


def test_unknown_config_key_is_refused(policy: Policy) -> None:
    with pytest.raises(errors.PolicyViolation, match=r"^unknown-field: .*Privileged"):
        # Privileged belongs in HostConfig; at the top it is a key nobody judged.
        policy.check_container_config({"Image": TEST_IMAGE, "Privileged": True})


@pytest.mark.engine
async def test_raw_engine_body_with_an_unknown_key_creates_nothing(
    policy_file: Path, name: str
) -> None:
    async with guarded_engine(policy_file) as eng:
        with pytest.raises(errors.PolicyViolation, match="unknown-field"):
            await eng.json(
                "POST",
                "containers/create",
                params={"name": name},
                json={
                    "Image": TEST_IMAGE,
                    "Labels": labels(),
                    "HostConfig": {"Links": ["/other:alias"]},
                },
            )
    assert not exists("container", name)


def test_every_field_moorage_sends_is_judged() -> None:
    """Every HostConfig key ContainerSpec can produce is on the policy's list."""
    from app.models.containers import ContainerSpec

    spec = ContainerSpec.model_validate(
        {
            "image": "x",
            "ports": {"80": None}, "mounts": [{"type": "tmpfs", "target": "/t"}],
            "volumes": ["v:/v"], "tmpfs": {"/r": ""}, "network": "n", "init": True,
            "auto_remove": True, "restart_policy": {"name": "no"},
            "resources": {"cpus": 1, "memory": "64m", "memory_swap": -1,
                          "memory_reservation": "32m", "pids_limit": 10, "cpu_shares": 2,
                          "cpuset_cpus": "0", "blkio_weight": 10,
                          "ulimits": [{"name": "nofile", "soft": 1, "hard": 2}],
                          "cpu_period": 1000, "cpu_quota": 1, "cpuset_mems": "0",
                          "cpu_rt_period": 1000, "cpu_rt_runtime": 1, "mem_swappiness": 1,
                          "blkio_weight_device": [{"path": "/d", "weight": 10}],
                          "device_read_bps": [{"path": "/d", "rate": 1}],
                          "device_read_iops": [{"path": "/d", "rate": 1}],
                          "device_write_bps": [{"path": "/d", "rate": 1}],
                          "device_write_iops": [{"path": "/d", "rate": 1}]},
            "security": {"privileged": False, "read_only": True, "cap_add": ["X"],
                         "cap_drop": ["Y"], "security_opt": ["a"], "userns_mode": "host",
                         "pid_mode": "host", "ipc_mode": "host", "devices": ["/dev/x"],
                         "sysctls": {"a": "b"}},
            "dns": ["1.1.1.1"], "dns_search": ["a"], "dns_opt": ["b"],
            "extra_hosts": {"a": "1.1.1.1"}, "shm_size": 1, "log_config": {"type": "local"},
            "device_requests": [{}], "runtime": "runc", "group_add": ["1"],
            "publish_all_ports": True, "volumes_from": ["c"], "volume_driver": "local",
            "cgroup_parent": "p", "cgroupns": "host", "uts_mode": "host",
            "storage_opt": {"size": "1"}, "oom_kill_disable": True, "oom_score_adj": 1,
            "device_cgroup_rules": ["c 1:1 r"],
        }
    )  # fmt: skip
    host = spec.to_engine()["HostConfig"]
    assert {k for k in host if k.lower() not in HOST_CONFIG_KEYS} == set()


# What the policy lets through (not everything is refused).
ALLOWED: list[tuple[str, dict[str, Any], str, Any]] = [
    ("log-json-file-rotated",
     {"log_config": {"type": "json-file", "config": {"max-size": "1m", "max-file": "2"}}},
     "HostConfig.LogConfig.Type", "json-file"),
    ("log-local", {"log_config": {"type": "local"}}, "HostConfig.LogConfig.Type", "local"),
    ("dns", {"dns": ["10.0.0.53"]}, "HostConfig.Dns", ["10.0.0.53"]),
    ("extra-hosts-host-gateway", {"extra_hosts": {"gw": "host-gateway"}},
     "HostConfig.ExtraHosts", ["gw:host-gateway"]),
    ("cgroup-parent-allowed", {"cgroup_parent": "moorage-ok"}, "HostConfig.CgroupParent",
     "moorage-ok"),
    ("oom-kill-disable-with-memory", {"oom_kill_disable": True, "resources": {"memory": "64m"}},
     "HostConfig.OomKillDisable", True),
    ("oom-score-adj-positive", {"oom_score_adj": 500}, "HostConfig.OomScoreAdj", 500),
    ("runtime-runc", {"runtime": "runc"}, "HostConfig.Runtime", "runc"),
    ("shm-size", {"shm_size": "64m"}, "HostConfig.ShmSize", 64 << 20),
]  # fmt: skip


@pytest.mark.engine
@pytest.mark.parametrize(("case", "spec", "path", "expected"), ALLOWED, ids=[c[0] for c in ALLOWED])
async def test_allowed_goes_through(
    policy_client: httpx.AsyncClient, name: str, case: str, spec: Any, path: str, expected: Any
) -> None:
    body = {"image": TEST_IMAGE, "name": name, "labels": labels(), "start": False, **spec}
    r = await policy_client.post("/v1/containers", json=body)
    assert r.status_code == 201, r.text
    doc: Any = inspect("container", name)
    for part in path.split("."):
        doc = doc[part]
    assert doc == expected
    docker("rm", "-f", name, check=False)


@pytest.mark.engine
async def test_recreate_under_a_policy_is_not_refused_for_engine_defaults(
    policy_client: httpx.AsyncClient, name: str
) -> None:
    """Inspect shows every HostConfig key with the engine's defaults (MaskedPaths,
    KernelMemory: 0, Links: null, …): recreating a plain container passes the policy."""
    docker("run", "-d", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}", "--name",
           name, TEST_IMAGE, "sleep", "600")  # fmt: skip
    old = inspect("container", name)["Id"]
    r = await policy_client.post(f"/v1/containers/{name}/recreate", json={"pull": False})
    assert r.status_code == 200, r.text
    doc = inspect("container", name)
    assert doc["Id"] != old
    assert doc["State"]["Running"] is True
    docker("rm", "-f", name, check=False)


@pytest.mark.engine
async def test_recreate_of_a_privileged_container_is_refused_and_the_old_one_stays(
    policy_client: httpx.AsyncClient, name: str
) -> None:
    """Made outside moorage with --privileged: recreating it asks the policy again."""
    # Created only: this sandbox cannot start a privileged container.
    docker("create", "--privileged", "--network", "none", "--label",
           f"{TEST_LABEL}={RUN_ID}", "--name", name, TEST_IMAGE, "sleep", "600")  # fmt: skip
    old = inspect("container", name)["Id"]
    r = await policy_client.post(f"/v1/containers/{name}/recreate", json={"pull": False})
    assert r.status_code == 403, r.text
    assert r.json()["detail"].startswith("allow_privileged:")
    doc = inspect("container", name)
    assert (doc["Id"], doc["Name"], doc["HostConfig"]["Privileged"]) == (old, f"/{name}", True)
    others = docker("ps", "-aq", "--no-trunc", "--filter", f"name={name}").split()
    assert others == [old]  # no new container was made
    docker("rm", "-f", name, check=False)


def test_engine_defaults_of_unknown_keys_pass(policy: Policy) -> None:
    """What inspect shows for every container (zeros, nulls, empty lists) asks for nothing."""
    policy.check_container_config(
        {
            "Image": TEST_IMAGE,
            "HostConfig": {"Links": None, "KernelMemory": 0, "Isolation": "", "Cgroup": ""},
        }
    )
