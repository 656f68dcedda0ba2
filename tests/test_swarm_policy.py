"""The container policy on service specs, attacked the way an attacker would, on the real
swarm: each attempt is a 403 naming the rule AND no service exists afterwards (or the
service attacked through a PATCH is unchanged on the engine). Plus the roles."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import errors
from app.engine import Engine
from app.settings import Settings
from tests.conftest import TEST_IMAGE, SwarmNodes, in_process, refused
from tests.test_security import bearer, write_tokens

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def allowed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("swarm-policy") / "data"


@pytest.fixture(scope="module")
def policy_file(allowed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    allowed.mkdir(parents=True, exist_ok=True)
    path = tmp_path_factory.mktemp("swarm-policy-file") / "policy.toml"
    path.write_text(
        f"""
bind_mount_prefixes = ["{allowed}"]
allowed_capabilities = ["NET_BIND_SERVICE"]
allowed_registries = ["docker.io"]
"""
    )
    return path


@pytest.fixture(scope="module")
async def guarded(
    swarm_nodes: SwarmNodes, policy_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    tokens = write_tokens(tmp_path_factory.mktemp("swarm-tokens") / "tokens.toml")
    settings = Settings(
        docker_host=swarm_nodes.manager,
        policy_file=policy_file,
        tokens_file=tokens,
        audit_db=":memory:",
    )
    async with in_process(settings) as (_, c):
        c.headers.update(bearer("admin"))
        yield c


@pytest.fixture(scope="module")
async def raw(swarm_nodes: SwarmNodes, policy_file: Path) -> AsyncIterator[Engine]:
    """An engine client on the manager with the policy's guard on every call."""
    engine = Engine(Settings(docker_host=swarm_nodes.manager, policy_file=policy_file))
    try:
        yield engine
    finally:
        await engine.close()


def no_service(nodes: SwarmNodes, name: str) -> None:
    assert nodes.docker("manager", "service", "ls", "-q", "--filter", f"name={name}") == ""


def unique() -> str:
    return f"attack-{uuid.uuid4().hex[:6]}"


ATTACKS: list[tuple[str, dict[str, Any], str]] = [
    (
        "bind /etc",
        {"mounts": [{"type": "bind", "source": "/etc", "target": "/h"}]},
        "bind_mount_prefixes",
    ),
    (
        "the engine socket",
        {"mounts": [{"type": "bind", "source": "/var/run/docker.sock", "target": "/s"}]},
        "bind_mount_prefixes",
    ),
    (
        "a volume that is a bind of /",
        {
            "mounts": [
                {
                    "type": "volume",
                    "source": "v-attack",
                    "target": "/v",
                    "driver_config": {
                        "name": "local",
                        "options": {"type": "none", "o": "bind", "device": "/"},
                    },
                }
            ]
        },
        "bind_mount_prefixes",
    ),
    ("SYS_ADMIN", {"cap_add": ["SYS_ADMIN"]}, "allowed_capabilities"),
    ("cap spelled otherwise", {"cap_add": ["cap_sys_admin"]}, "allowed_capabilities"),
    ("the host network", {"networks": [{"target": "host"}]}, "allow_host_namespaces"),
    ("another registry", {"image": "evil.example:5000/miner:1"}, "allowed_registries"),
    ("a host sysctl", {"sysctls": {"kernel.core_pattern": "|/bin/sh"}}, "allowed_sysctls"),
]


@pytest.mark.parametrize(("what", "extra", "rule"), ATTACKS, ids=[a[0] for a in ATTACKS])
async def test_create_attacks_refused(
    guarded: httpx.AsyncClient, swarm_nodes: SwarmNodes, what: str, extra: dict[str, Any], rule: str
) -> None:
    name = unique()
    body = {"name": name, "image": TEST_IMAGE, "args": ["sleep", "60"], **extra}
    refused(await guarded.post("/v1/services", json=body), rule)
    no_service(swarm_nodes, name)


async def test_existing_volume_judged_as_it_is(
    guarded: httpx.AsyncClient, swarm_nodes: SwarmNodes
) -> None:
    """A volume made on the manager outside moorage as a bind of /: mounting it by name
    is mounting the host's root."""
    vol = f"root-{uuid.uuid4().hex[:6]}"
    swarm_nodes.docker(
        "manager", "volume", "create", "-o", "type=none", "-o", "o=bind", "-o", "device=/", vol
    )
    try:
        name = unique()
        body = {
            "name": name,
            "image": TEST_IMAGE,
            "mounts": [{"type": "volume", "source": vol, "target": "/host"}],
        }
        refused(await guarded.post("/v1/services", json=body), "bind_mount_prefixes")
        no_service(swarm_nodes, name)
    finally:
        swarm_nodes.docker("manager", "volume", "rm", vol)


async def test_patch_attacks_leave_the_service_as_it_was(
    guarded: httpx.AsyncClient, swarm_nodes: SwarmNodes, allowed: Path
) -> None:
    name = unique()
    r = await guarded.post(
        "/v1/services",
        json={
            "name": name,
            "image": TEST_IMAGE,
            "args": ["sleep", "600"],
            "replicas": 0,
            "mounts": [{"type": "bind", "source": str(allowed), "target": "/data"}],
        },
    )
    assert r.status_code == 201, r.text  # what the policy allows goes through
    try:
        before = json.loads(swarm_nodes.docker("manager", "service", "inspect", name))[0]
        for change, rule in (
            ({"mounts": [{"type": "bind", "source": "/", "target": "/h"}]}, "bind_mount_prefixes"),
            ({"cap_add": ["NET_ADMIN"]}, "allowed_capabilities"),
            ({"image": "evil.example:5000/x:1"}, "allowed_registries"),
            ({"networks": [{"target": "host"}]}, "allow_host_namespaces"),
        ):
            refused(await guarded.patch(f"/v1/services/{name}", json=change), rule)
        after = json.loads(swarm_nodes.docker("manager", "service", "inspect", name))[0]
        assert after["Version"] == before["Version"]
        assert after["Spec"] == before["Spec"]
    finally:
        await guarded.delete(f"/v1/services/{name}")


RAW: list[tuple[str, dict[str, Any], str]] = [
    ("Privileged", {"ContainerSpec": {"Image": TEST_IMAGE, "Privileged": True}}, "unknown-field"),
    (
        "Devices",
        {"ContainerSpec": {"Image": TEST_IMAGE, "Devices": [{"PathOnHost": "/dev/sda"}]}},
        "unknown-field",
    ),
    (
        "SELinux disabled",
        {
            "ContainerSpec": {
                "Image": TEST_IMAGE,
                "Privileges": {"SELinuxContext": {"Disable": True}},
            }
        },
        "allow_unconfined",
    ),
    (
        "seccomp unconfined",
        {"ContainerSpec": {"Image": TEST_IMAGE, "Privileges": {"Seccomp": {"Mode": "unconfined"}}}},
        "allow_unconfined",
    ),
    (
        "apparmor unconfined",
        {
            "ContainerSpec": {
                "Image": TEST_IMAGE,
                "Privileges": {"AppArmor": {"Mode": "unconfined"}},
            }
        },
        "allow_unconfined",
    ),
    (
        "a plugin task",
        {"Runtime": "plugin", "PluginSpec": {"Name": "evil/plugin", "Privileges": []}},
        "allow_privileged",
    ),
    (
        "GPUs",
        {
            "ContainerSpec": {"Image": TEST_IMAGE},
            "Resources": {
                "Reservations": {
                    "GenericResources": [{"DiscreteResourceSpec": {"Kind": "gpu", "Value": 1}}]
                }
            },
        },
        "allow_devices",
    ),
    (
        "syslog to anywhere",
        {
            "ContainerSpec": {"Image": TEST_IMAGE},
            "LogDriver": {"Name": "syslog", "Options": {"syslog-address": "tcp://1.2.3.4:514"}},
        },
        "allowed_log_drivers",
    ),
    (
        "a key in another case",
        {
            "ContainerSpec": {
                "Image": TEST_IMAGE,
                "mOUNTS": [{"Type": "bind", "Source": "/etc", "Target": "/h"}],
            }
        },
        "bind_mount_prefixes",
    ),
    (
        "Isolation",
        {"ContainerSpec": {"Image": TEST_IMAGE, "Isolation": "hyperv"}},
        "allow_unconfined",
    ),
]


@pytest.mark.parametrize(("what", "task", "rule"), RAW, ids=[a[0] for a in RAW])
async def test_raw_engine_bodies_refused(
    raw: Engine, swarm_nodes: SwarmNodes, what: str, task: dict[str, Any], rule: str
) -> None:
    """Bodies no route would build, sent straight through the guarded engine client."""
    name = unique()
    with pytest.raises(errors.PolicyViolation) as caught:
        await raw.json("POST", "services/create", json={"Name": name, "TaskTemplate": task})
    assert caught.value.detail.startswith(rule + ":"), caught.value.detail
    no_service(swarm_nodes, name)


async def test_roles(guarded: httpx.AsyncClient, swarm_nodes: SwarmNodes) -> None:
    """viewer reads; operator scales, rolls back, redeploys; admin creates, updates,
    removes, and manages nodes and secrets."""
    name = unique()
    r = await guarded.post("/v1/services", json={"name": name, "image": TEST_IMAGE, "replicas": 0})
    assert r.status_code == 201, r.text
    try:
        viewer, operator = bearer("viewer"), bearer("operator")
        other, secret = unique(), unique()
        assert (await guarded.get("/v1/services", headers=viewer)).status_code == 200
        assert (await guarded.get(f"/v1/services/{name}/logs", headers=viewer)).status_code == 200
        r = await guarded.post(f"/v1/services/{name}/scale", json={"replicas": 2}, headers=viewer)
        assert r.status_code == 403
        spec = json.loads(swarm_nodes.docker("manager", "service", "inspect", name))[0]["Spec"]
        assert spec["Mode"]["Replicated"]["Replicas"] == 0
        r = await guarded.post(f"/v1/services/{name}/scale", json={"replicas": 0}, headers=operator)
        assert r.status_code == 200, r.text
        for method, path, body in (
            ("POST", "/v1/services", {"name": other, "image": TEST_IMAGE}),
            ("PATCH", f"/v1/services/{name}", {"hostname": "x"}),
            ("DELETE", f"/v1/services/{name}", None),
            ("PATCH", "/v1/nodes/swarm-worker", {"availability": "drain"}),
            ("POST", "/v1/secrets", {"name": secret, "data": "eA=="}),
            ("GET", "/v1/swarm/join-tokens", None),
            ("POST", "/v1/swarm/leave", None),
        ):
            r = await guarded.request(method, path, json=body, headers=operator)
            assert r.status_code == 403, (method, path, r.text)
        spec = json.loads(swarm_nodes.docker("manager", "service", "inspect", name))[0]["Spec"]
        assert "Hostname" not in spec["TaskTemplate"]["ContainerSpec"]
        node = json.loads(swarm_nodes.docker("manager", "node", "inspect", "swarm-worker"))[0]
        assert node["Spec"]["Availability"] == "active"
        no_service(swarm_nodes, other)
        assert (
            swarm_nodes.docker("manager", "secret", "ls", "-q", "--filter", f"name={secret}") == ""
        )
        assert (
            swarm_nodes.docker("manager", "info", "-f", "{{.Swarm.LocalNodeState}}").strip()
            == "active"
        )
    finally:
        await guarded.delete(f"/v1/services/{name}")
