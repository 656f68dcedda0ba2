"""The policy: a catalogue of bypass attempts, each refused with nothing created.

Three layers:
- pure: `Policy` rules on engine payloads (no engine);
- engine: the same payloads through `Engine.json(...)` against the real engine, through
  the guard every engine call passes; nothing is created;
- route: `POST /v1/containers` with API.md `ContainerSpec` bodies (skipped while the
  app has no `containers_create` route).
"""

from __future__ import annotations

import io
import os
import tarfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app import errors
from app.engine import Engine
from app.main import create_app
from app.policy import Policy, image_registry, normalise_host_path
from app.settings import Settings
from tests.conftest import TEST_IMAGE, docker, exists, guarded_engine, inspect, refused
from tests.conftest import test_labels as labels
from tests.test_security_routes import walk


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An allowed bind prefix holding a symlink that points out of it (to /etc)."""
    base = tmp_path_factory.mktemp("policy") / "data"
    (base / "sub").mkdir(parents=True)
    os.symlink("/etc", base / "etc-link")
    os.symlink(base / "sub", base / "inner-link")
    return base


@pytest.fixture(scope="module")
def policy_file(prefix: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 127.0.0.1:5000 (the test registry) is allowed: tests elsewhere push the test
    # image there, and its content is judged by the registries holding it.
    path = tmp_path_factory.mktemp("policy-file") / "policy.toml"
    path.write_text(
        f"""
bind_mount_prefixes = ["/srv/data", "{prefix}"]
allowed_capabilities = ["NET_BIND_SERVICE", "cap_chown"]
allowed_registries = ["docker.io", "registry.local:5000", "127.0.0.1:5000"]
exec_allow_root = false
"""
    )
    return path


@pytest.fixture(scope="module")
def policy(policy_file: Path) -> Policy:
    return Policy.load(policy_file)


def _p(host: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    return {"Image": TEST_IMAGE, "Cmd": ["true"], **top, "HostConfig": host or {}}


SECCOMP_ALLOW = '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}'

# (id, engine create payload (a callable of the symlinked prefix), the rule named)
CATALOGUE: list[tuple[str, Any, str]] = [
    ("privileged", lambda p: _p({"Privileged": True}), "allow_privileged"),
    ("privileged-lowercase-key", lambda p: _p({"privileged": True}), "allow_privileged"),
    (
        "privileged-duplicate-keys",
        lambda p: _p({"Privileged": False, "privileged": True}),
        "duplicate-keys",
    ),
    ("network-host", lambda p: _p({"NetworkMode": "host"}), "allow_host_namespaces"),
    ("network-HOST-case", lambda p: _p({"NetworkMode": "HOST"}), "allow_host_namespaces"),
    ("pid-host", lambda p: _p({"PidMode": "host"}), "allow_host_namespaces"),
    ("ipc-host", lambda p: _p({"IpcMode": "host"}), "allow_host_namespaces"),
    ("uts-host", lambda p: _p({"UTSMode": "host"}), "allow_host_namespaces"),
    ("userns-host", lambda p: _p({"UsernsMode": "host"}), "allow_host_namespaces"),
    ("cgroupns-host", lambda p: _p({"CgroupnsMode": "host"}), "allow_host_namespaces"),
    ("pid-host-spaces", lambda p: _p({"pidmode": " host "}), "allow_host_namespaces"),
    ("binds-etc", lambda p: _p({"Binds": ["/etc:/x"]}), "bind_mount_prefixes"),
    ("binds-dotdot", lambda p: _p({"Binds": ["/srv/data/../../etc:/x"]}), "bind_mount_prefixes"),
    ("binds-prefix-trick", lambda p: _p({"Binds": ["/srv/data-evil:/x"]}), "bind_mount_prefixes"),
    ("binds-root", lambda p: _p({"Binds": ["/:/host"]}), "bind_mount_prefixes"),
    (
        "binds-docker-sock",
        lambda p: _p({"Binds": ["/var/run/docker.sock:/var/run/docker.sock"]}),
        "bind_mount_prefixes",
    ),
    ("binds-double-slash", lambda p: _p({"Binds": ["//etc:/x"]}), "bind_mount_prefixes"),
    ("binds-relative-dotdot", lambda p: _p({"Binds": ["../etc:/x"]}), "bind_mount_prefixes"),
    ("binds-relative-dot", lambda p: _p({"Binds": ["./etc:/x:ro"]}), "bind_mount_prefixes"),
    ("binds-relative-path", lambda p: _p({"Binds": ["etc/ssl:/x"]}), "bind_mount_prefixes"),
    ("binds-symlink-out", lambda p: _p({"Binds": [f"{p}/etc-link:/x"]}), "bind_mount_prefixes"),
    (
        "binds-one-good-one-bad",
        lambda p: _p({"Binds": [f"{p}/sub:/a", "/etc:/b"]}),
        "bind_mount_prefixes",
    ),
    (
        "binds-duplicate-keys",
        lambda p: _p({"Binds": [f"{p}/sub:/a"], "binds": ["/etc:/b"]}),
        "duplicate-keys",
    ),
    (
        "mounts-bind-etc",
        lambda p: _p({"Mounts": [{"Type": "bind", "Source": "/etc", "Target": "/x"}]}),
        "bind_mount_prefixes",
    ),
    (
        "mounts-BIND-case",
        lambda p: _p({"Mounts": [{"Type": "BIND", "Source": "/etc", "Target": "/x"}]}),
        "bind_mount_prefixes",
    ),
    (
        "mounts-lowercase-keys",
        lambda p: _p({"mounts": [{"type": "bind", "source": "/etc", "target": "/x"}]}),
        "bind_mount_prefixes",
    ),
    (
        "mounts-trailing-dotdot",
        lambda p: _p({"Mounts": [{"Type": "bind", "Source": f"{p}/sub/../../..", "Target": "/x"}]}),
        "bind_mount_prefixes",
    ),
    (
        "mounts-trailing-slash-trick",
        lambda p: _p({"Mounts": [{"Type": "bind", "Source": "/srv/data-evil/", "Target": "/x"}]}),
        "bind_mount_prefixes",
    ),
    (
        "mounts-volume-local-bind-device",
        lambda p: _p(
            {
                "Mounts": [
                    {
                        "Type": "volume",
                        "Source": f"mt-{uuid.uuid4().hex[:6]}",
                        "Target": "/x",
                        "VolumeOptions": {
                            "DriverConfig": {
                                "Name": "local",
                                "Options": {"type": "none", "o": "bind", "device": "/etc"},
                            }
                        },
                    }
                ]
            }
        ),
        "bind_mount_prefixes",
    ),
    ("cap-sys-admin", lambda p: _p({"CapAdd": ["SYS_ADMIN"]}), "allowed_capabilities"),
    ("cap-prefix-lower", lambda p: _p({"CapAdd": ["cap_sys_admin"]}), "allowed_capabilities"),
    ("cap-mixed-case", lambda p: _p({"CapAdd": ["Cap_Sys_Admin"]}), "allowed_capabilities"),
    ("cap-all", lambda p: _p({"CapAdd": ["ALL"]}), "allowed_capabilities"),
    (
        "cap-allowed-plus-bad",
        lambda p: _p({"CapAdd": ["NET_BIND_SERVICE", "CAP_NET_ADMIN"]}),
        "allowed_capabilities",
    ),
    (
        "devices",
        lambda p: _p(
            {
                "Devices": [
                    {
                        "PathOnHost": "/dev/null",
                        "PathInContainer": "/dev/x",
                        "CgroupPermissions": "rwm",
                    }
                ]
            }
        ),
        "allow_devices",
    ),
    (
        "device-requests-gpus",
        lambda p: _p({"DeviceRequests": [{"Count": -1, "Capabilities": [["gpu"]]}]}),
        "allow_devices",
    ),
    ("device-cgroup-rules", lambda p: _p({"DeviceCgroupRules": ["c 1:3 mr"]}), "allow_devices"),
    (
        "seccomp-unconfined",
        lambda p: _p({"SecurityOpt": ["seccomp=unconfined"]}),
        "allow_unconfined",
    ),
    (
        "seccomp-colon-form",
        lambda p: _p({"SecurityOpt": ["seccomp:unconfined"]}),
        "allow_unconfined",
    ),
    ("seccomp-case", lambda p: _p({"SecurityOpt": ["Seccomp=Unconfined"]}), "allow_unconfined"),
    (
        "seccomp-allow-profile",
        lambda p: _p({"SecurityOpt": [f"seccomp={SECCOMP_ALLOW}"]}),
        "allow_unconfined",
    ),
    (
        "apparmor-unconfined",
        lambda p: _p({"SecurityOpt": ["apparmor=unconfined"]}),
        "allow_unconfined",
    ),
    ("label-disable", lambda p: _p({"SecurityOpt": ["label=disable"]}), "allow_unconfined"),
    ("label-colon-disable", lambda p: _p({"SecurityOpt": ["label:disable"]}), "allow_unconfined"),
    (
        "systempaths-unconfined",
        lambda p: _p({"SecurityOpt": ["systempaths=unconfined"]}),
        "allow_unconfined",
    ),
    ("masked-paths-empty", lambda p: _p({"MaskedPaths": []}), "allow_unconfined"),
    ("registry-other", lambda p: {**_p(), "Image": "evil.example.com/app:1"}, "allowed_registries"),
    (
        "registry-port-trick",
        lambda p: {**_p(), "Image": "registry.local:5001/app"},
        "allowed_registries",
    ),
    ("registry-localhost", lambda p: {**_p(), "Image": "localhost/app"}, "allowed_registries"),
    (
        "registry-lowercase-key",
        lambda p: {"image": "evil.example.com/app", "HostConfig": {}},
        "allowed_registries",
    ),
]

ALLOWED: list[tuple[str, Any]] = [
    ("plain", lambda p: _p()),
    ("bind-under-prefix", lambda p: _p({"Binds": [f"{p}/sub:/x:ro"]})),
    (
        "bind-prefix-itself",
        lambda p: _p({"Mounts": [{"Type": "bind", "Source": f"{p}/", "Target": "/x"}]}),
    ),
    ("bind-symlink-inside", lambda p: _p({"Binds": [f"{p}/inner-link:/x"]})),
    ("named-volume", lambda p: _p({"Binds": [f"mt-vol-{uuid.uuid4().hex[:6]}:/x"]})),
    ("caps-allowed", lambda p: _p({"CapAdd": ["net_bind_service", "CAP_CHOWN"]})),
    ("tmpfs-mount", lambda p: _p({"Mounts": [{"Type": "tmpfs", "Target": "/t"}]})),
    ("network-bridge", lambda p: _p({"NetworkMode": "bridge"})),
]


def test_catalogue_is_large_enough() -> None:
    assert len(CATALOGUE) >= 30
    assert len({c[0] for c in CATALOGUE}) == len(CATALOGUE)


# -- pure ------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "payload", "rule"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_refused_by_the_rule(
    policy: Policy, prefix: Path, case: str, payload: Any, rule: str
) -> None:
    with pytest.raises(errors.PolicyViolation) as info:
        policy.check_container_config(payload(prefix))
    assert info.value.detail.startswith(rule + ":"), info.value.detail
    assert info.value.extra["rule"] == rule


@pytest.mark.parametrize(("case", "payload"), ALLOWED, ids=[c[0] for c in ALLOWED])
def test_allowed(policy: Policy, prefix: Path, case: str, payload: Any) -> None:
    policy.check_container_config(payload(prefix))


def test_defaults_are_strict() -> None:
    policy = Policy()
    assert not policy.allow_privileged
    assert not policy.allow_host_namespaces
    assert policy.bind_mount_prefixes == []
    assert policy.allowed_capabilities == []
    assert not policy.allow_devices
    assert not policy.allow_unconfined
    assert policy.allowed_registries == []
    assert policy.exec_allow_root
    assert not policy.exec_allow_privileged
    with pytest.raises(errors.PolicyViolation, match="bind_mount_prefixes"):
        policy.check_host_config({"Binds": ["/tmp:/x"]})
    policy.check_image("anything.example.com/app")  # empty = any registry


def test_unknown_policy_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("allow_privilegd = true\n")
    with pytest.raises(ValueError, match="allow_privilegd"):
        Policy.load(path)


def test_a_relaxed_policy_allows() -> None:
    policy = Policy(
        allow_privileged=True,
        allow_host_namespaces=True,
        allowed_capabilities=["ALL"],
        allow_devices=True,
        allow_unconfined=True,
        bind_mount_prefixes=["/"],
    )
    policy.check_host_config(
        {
            "Privileged": True,
            "NetworkMode": "host",
            "PidMode": "host",
            "CapAdd": ["SYS_ADMIN"],
            "Devices": [{"PathOnHost": "/dev/null"}],
            "SecurityOpt": ["seccomp=unconfined"],
            "Binds": ["/etc:/x"],
        }
    )


def test_docker_socket_is_never_mountable() -> None:
    policy = Policy(bind_mount_prefixes=["/var/run", "/run"])
    for source in ("/var/run/docker.sock", "/run/docker.sock", "/var/run/../run/docker.sock"):
        with pytest.raises(errors.PolicyViolation, match="engine socket"):
            policy.check_bind_source(source, source)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("/srv/data/../../etc", "/etc"),
        ("//srv//data//", "/srv/data"),
        ("/srv/data/./x/", "/srv/data/x"),
        ("../etc", "/etc"),
        ("/", "/"),
    ],
)
def test_normalise_host_path(source: str, expected: str) -> None:
    assert normalise_host_path(source) == expected


@pytest.mark.parametrize(
    ("ref", "registry"),
    [
        ("alpine", "docker.io"),
        ("library/alpine:3.20", "docker.io"),
        ("registry.local:5000/team/app:1.0", "registry.local:5000"),
        ("localhost/app", "localhost"),
        ("Evil.Example.com/x", "evil.example.com"),
        ("index.docker.io/library/alpine", "docker.io"),
    ],
)
def test_image_registry(ref: str, registry: str) -> None:
    assert image_registry(ref) == registry


@pytest.mark.parametrize(
    ("config", "user", "rule"),
    [
        ({"Cmd": ["id"], "Privileged": True, "User": "1000"}, None, "exec_allow_privileged"),
        ({"Cmd": ["id"], "privileged": True, "User": "1000"}, None, "exec_allow_privileged"),
        ({"Cmd": ["id"], "User": "root"}, None, "exec_allow_root"),
        ({"Cmd": ["id"], "User": "0"}, None, "exec_allow_root"),
        ({"Cmd": ["id"], "User": "0:0"}, None, "exec_allow_root"),
        ({"Cmd": ["id"], "User": "ROOT:wheel"}, None, "exec_allow_root"),
        ({"Cmd": ["id"]}, "", "exec_allow_root"),
        ({"Cmd": ["id"], "User": ""}, "root", "exec_allow_root"),
    ],
)
def test_exec_refused(policy: Policy, config: dict[str, Any], user: str | None, rule: str) -> None:
    with pytest.raises(errors.PolicyViolation, match=f"^{rule}:"):
        policy.check_exec(config, user)


def test_exec_allowed_as_another_user(policy: Policy) -> None:
    policy.check_exec({"Cmd": ["id"], "User": "1000:0"}, None)
    policy.check_exec({"Cmd": ["id"]}, "nobody")


def test_update_checks_devices(policy: Policy) -> None:
    with pytest.raises(errors.PolicyViolation, match="allow_devices"):
        policy.check_host_config({"Devices": [{"PathOnHost": "/dev/sda"}]}, update=True)
    policy.check_host_config({"Memory": 1 << 26, "RestartPolicy": {"Name": "no"}}, update=True)


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM scratch\nRUN --network=host true\n",
        "FROM scratch\nRUN --network=HOST true\n",
        "FROM scratch\nARG NET=host\nRUN --network=$NET true\n",
        "FROM scratch\nRUN --security=insecure true\n",
        'FROM scratch\nRUN --network="host" true\n',
    ],
)
def test_dockerfile_refused(policy: Policy, dockerfile: str) -> None:
    with pytest.raises(errors.PolicyViolation):
        policy.check_build({}, _tar({"Dockerfile": dockerfile}))


def test_build_params(policy: Policy) -> None:
    with pytest.raises(errors.PolicyViolation, match="allow_host_namespaces"):
        policy.check_build({"networkmode": "host"}, None)
    with pytest.raises(errors.PolicyViolation, match="allow_host_namespaces"):
        policy.check_build({"NetworkMode": "Host"}, None)
    with pytest.raises(errors.PolicyViolation, match="allowed_registries"):
        policy.check_build({"t": "evil.example.com/app:1"}, None)
    with pytest.raises(errors.PolicyViolation, match="allow_host_namespaces"):
        policy.check_build(
            {"dockerfile": "sub/Build.file", "buildargs": '{"NET": "host"}'},
            _tar({"sub/Build.file": "FROM scratch\nRUN --network=${NET} true\n"}),
        )
    policy.check_build(
        {"t": "app:1", "networkmode": "default"}, _tar({"Dockerfile": "FROM scratch\n"})
    )


def _tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# -- engine: through the guard every engine call passes ---------------------------------


@pytest.fixture(scope="module")
async def engine(policy_file: Path) -> AsyncIterator[Engine]:
    async with guarded_engine(policy_file) as eng:
        yield eng


def _labelled(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "Labels": labels()}


@pytest.mark.engine
@pytest.mark.parametrize(("case", "payload", "rule"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
async def test_engine_create_refused_nothing_created(
    engine: Engine, prefix: Path, name: str, case: str, payload: Any, rule: str
) -> None:
    with pytest.raises(errors.PolicyViolation, match=f"^{rule}:"):
        await engine.json(
            "POST", "containers/create", params={"name": name}, json=_labelled(payload(prefix))
        )
    assert not exists("container", name)


@pytest.mark.engine
async def test_engine_create_refused_via_aiodocker_helpers(engine: Engine, name: str) -> None:
    """aiodocker's own `containers.create` passes the same chokepoint."""
    with pytest.raises(errors.PolicyViolation, match="allow_privileged"):
        await engine.docker.containers.create(_labelled(_p({"Privileged": True})), name=name)
    assert not exists("container", name)


@pytest.mark.engine
@pytest.mark.parametrize(("case", "payload"), ALLOWED[:4], ids=[c[0] for c in ALLOWED[:4]])
async def test_engine_create_allowed(
    engine: Engine, prefix: Path, name: str, case: str, payload: Any
) -> None:
    doc = await engine.json(
        "POST", "containers/create", params={"name": name}, json=_labelled(payload(prefix))
    )
    try:
        assert inspect("container", name)["Id"] == doc["Id"]
    finally:
        docker("rm", "-fv", name, check=False)


@pytest.fixture
def running(name: str) -> Iterator[str]:
    flags = [a for k, v in labels().items() for a in ("--label", f"{k}={v}")]
    docker("run", "-d", "--network", "none", "--name", name, *flags, TEST_IMAGE, "sleep", "60")
    yield name
    docker("rm", "-f", name, check=False)


@pytest.mark.engine
@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ({"Cmd": ["id"], "Privileged": True, "User": "1000"}, "exec_allow_privileged"),
        ({"Cmd": ["id"], "User": "root"}, "exec_allow_root"),
        ({"Cmd": ["id"]}, "exec_allow_root"),  # the container's default user is root
    ],
)
async def test_engine_exec_refused(
    engine: Engine, running: str, body: dict[str, Any], rule: str
) -> None:
    with pytest.raises(errors.PolicyViolation, match=f"^{rule}:"):
        await engine.json("POST", f"containers/{running}/exec", json=body)
    assert not inspect("container", running).get("ExecIDs")


@pytest.mark.engine
async def test_engine_exec_allowed_as_a_user(engine: Engine, running: str) -> None:
    doc = await engine.json(
        "POST", f"containers/{running}/exec", json={"Cmd": ["id"], "User": "1000"}
    )
    assert doc["Id"]


@pytest.mark.engine
async def test_engine_update_devices_refused(engine: Engine, running: str) -> None:
    with pytest.raises(errors.PolicyViolation, match="allow_devices"):
        await engine.json(
            "POST",
            f"containers/{running}/update",
            json={"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/x"}]},
        )


@pytest.mark.engine
async def test_engine_connect_host_network_refused(engine: Engine, running: str) -> None:
    with pytest.raises(errors.PolicyViolation, match="allow_host_namespaces"):
        await engine.json("POST", "networks/host/connect", json={"Container": running})
    host_id = inspect("network", "host")["Id"]
    with pytest.raises(errors.PolicyViolation, match="allow_host_namespaces"):
        await engine.json("POST", f"networks/{host_id[:12]}/connect", json={"Container": running})


@pytest.mark.engine
async def test_engine_volume_bind_device_refused(engine: Engine, name: str) -> None:
    with pytest.raises(errors.PolicyViolation, match="bind_mount_prefixes"):
        await engine.json(
            "POST",
            "volumes/create",
            json={
                "Name": name,
                "Labels": labels(),
                "DriverOpts": {"type": "none", "o": "bind", "device": "/etc"},
            },
        )
    assert not exists("volume", name)


@pytest.mark.engine
@pytest.mark.parametrize(
    ("params", "files"),
    [
        ({"networkmode": "host"}, {"Dockerfile": "FROM moorage-test/busybox:latest\n"}),
        ({}, {"Dockerfile": "FROM moorage-test/busybox:latest\nRUN --network=host true\n"}),
        (
            {"buildargs": '{"NET": "host"}'},
            {"Dockerfile": "FROM moorage-test/busybox:latest\nARG NET\nRUN --network=$NET true\n"},
        ),
    ],
    ids=["networkmode-param", "run-network-host", "buildarg-network"],
)
async def test_engine_build_refused(
    engine: Engine, name: str, params: dict[str, Any], files: dict[str, str]
) -> None:
    tag = f"moorage-policy-test/{name}:1"
    with pytest.raises(errors.PolicyViolation, match="allow_host_namespaces"):
        async with engine.request(
            "POST",
            "build",
            params={"t": tag, "labels": labels(), **params},
            data=_tar(files),
            headers={"Content-Type": "application/x-tar"},
            long=True,
        ) as resp:
            await resp.read()
    assert not exists("image", tag)


@pytest.mark.engine
async def test_engine_pull_from_other_registry_refused(engine: Engine) -> None:
    with pytest.raises(errors.PolicyViolation, match="allowed_registries"):
        await engine.json(
            "POST", "images/create", params={"fromImage": "evil.example.com/x", "tag": "1"}
        )


# -- route: POST /v1/containers with ContainerSpec bodies ------------------------------

SPEC_CATALOGUE: list[tuple[str, Any, str]] = [
    ("privileged", lambda p: {"security": {"privileged": True}}, "allow_privileged"),
    ("network-host", lambda p: {"network": "host"}, "allow_host_namespaces"),
    ("pid-host", lambda p: {"security": {"pid_mode": "host"}}, "allow_host_namespaces"),
    ("ipc-host", lambda p: {"security": {"ipc_mode": "host"}}, "allow_host_namespaces"),
    ("userns-host", lambda p: {"security": {"userns_mode": "host"}}, "allow_host_namespaces"),
    (
        "mounts-bind-etc",
        lambda p: {"mounts": [{"type": "bind", "source": "/etc", "target": "/x"}]},
        "bind_mount_prefixes",
    ),
    (
        "mounts-bind-dotdot",
        lambda p: {"mounts": [{"type": "bind", "source": "/srv/data/../../etc", "target": "/x"}]},
        "bind_mount_prefixes",
    ),
    (
        "volumes-dict",
        lambda p: {"volumes": {"/etc": {"bind": "/x", "mode": "ro"}}},
        "bind_mount_prefixes",
    ),
    ("volumes-list", lambda p: {"volumes": ["/etc:/x:ro"]}, "bind_mount_prefixes"),
    ("volumes-prefix-trick", lambda p: {"volumes": ["/srv/data-evil:/x"]}, "bind_mount_prefixes"),
    (
        "volumes-docker-sock",
        lambda p: {"volumes": ["/var/run/docker.sock:/s"]},
        "bind_mount_prefixes",
    ),
    ("volumes-symlink", lambda p: {"volumes": [f"{p}/etc-link:/x"]}, "bind_mount_prefixes"),
    ("cap-add", lambda p: {"security": {"cap_add": ["SYS_ADMIN"]}}, "allowed_capabilities"),
    (
        "cap-add-prefix",
        lambda p: {"security": {"cap_add": ["cap_sys_admin"]}},
        "allowed_capabilities",
    ),
    ("devices", lambda p: {"security": {"devices": ["/dev/null:/dev/x"]}}, "allow_devices"),
    (
        "seccomp",
        lambda p: {"security": {"security_opt": ["seccomp=unconfined"]}},
        "allow_unconfined",
    ),
    (
        "registry",
        lambda p: {"image": "evil.example.com/app:1"},
        "allowed_registries",
    ),
]


@pytest.fixture(scope="module")
async def policy_client(policy_file: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(policy_file=policy_file, audit_db=":memory:"))
    names = {name for name, _, _ in walk(app)}
    if "containers_create" not in names:
        pytest.skip("the app has no containers_create route yet")
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://moorage.test") as c:
            yield c


@pytest.mark.engine
@pytest.mark.parametrize(
    ("case", "spec", "rule"), SPEC_CATALOGUE, ids=[c[0] for c in SPEC_CATALOGUE]
)
async def test_route_create_refused_nothing_created(
    policy_client: httpx.AsyncClient, prefix: Path, name: str, case: str, spec: Any, rule: str
) -> None:
    body = {"image": TEST_IMAGE, "command": ["true"], "name": name, "labels": labels()}
    body.update(spec(prefix))
    refused(await policy_client.post("/v1/containers", json=body), rule)
    assert not exists("container", name)


@pytest.fixture
def outsider(name: str) -> Iterator[str]:
    """A container made outside moorage with the host's pid namespace and a host bind."""
    flags = [a for k, v in labels().items() for a in ("--label", f"{k}={v}")]
    other = name + "-out"
    docker("create", "--pid", "host", "--network", "none", "-v", "/etc:/host-etc:ro",
           "--name", other, *flags, TEST_IMAGE, "sleep", "60")  # fmt: skip
    yield other
    docker("rm", "-f", other, check=False)


@pytest.mark.engine
@pytest.mark.parametrize(
    ("host", "rule"),
    [
        ({"PidMode": "container:{other}"}, "allow_host_namespaces"),
        ({"VolumesFrom": ["{other}:ro"]}, "bind_mount_prefixes"),
    ],
    ids=["pid-of-a-host-pid-container", "volumes-from-a-host-bind"],
)
async def test_engine_joining_another_container_is_judged(
    engine: Engine, outsider: str, name: str, host: dict[str, Any], rule: str
) -> None:
    resolved = {
        k: v.format(other=outsider) if isinstance(v, str) else [x.format(other=outsider) for x in v]
        for k, v in host.items()
    }
    with pytest.raises(errors.PolicyViolation, match=f"^{rule}:"):
        await engine.json(
            "POST", "containers/create", params={"name": name}, json=_labelled(_p(resolved))
        )
    assert not exists("container", name)


def test_exec_uid_zero_spellings(policy: Policy) -> None:
    for user in ("00", "0:1000", " root "):
        with pytest.raises(errors.PolicyViolation, match="exec_allow_root"):
            policy.check_exec({"Cmd": ["id"], "User": user}, None)
