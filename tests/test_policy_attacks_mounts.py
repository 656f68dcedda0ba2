"""Attacks on the policy through storage, namespaces, sysctls and networks (issue 11).

Classes 1 (volume driver options), 2 (binds swapped after the check), 5 (namespace
joins through a chain) and 7 (sysctls, macvlan/ipvlan), against the real engine with a
policy on: through moorage's routes where a route can say it, through the engine
chokepoint (`Engine.json`, the guard every engine call passes) for raw engine bodies.
Each attempt asserts the 403 `policy-violation` naming the rule AND that nothing got
through: no container made or started, no volume or network made, no file written.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import errors
from app.engine import Engine
from app.policy import MAX_JOIN_DEPTH, Policy
from app.settings import Settings
from tests.conftest import (
    TEST_IMAGE,
    docker,
    exists,
    guarded_engine,
    in_process,
    inspect,
    refused,
)
from tests.conftest import test_labels as labels

pytestmark = pytest.mark.engine

LABEL_FLAGS = [a for k, v in labels().items() for a in ("--label", f"{k}={v}")]
NEVER_STARTED = "0001-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`data/` is the allowed prefix; `outside/` stands for any host directory."""
    root = tmp_path_factory.mktemp("attacks")
    (root / "data" / "sub").mkdir(parents=True)
    (root / "outside" / "deep").mkdir(parents=True)
    return root


@pytest.fixture(scope="module")
def policy_file(base: Path) -> Path:
    path = base / "policy.toml"
    path.write_text(f'bind_mount_prefixes = ["{base}/data"]\n')
    return path


@pytest.fixture(scope="module")
async def client(policy_file: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(Settings(policy_file=policy_file, audit_db=":memory:")) as (_, c):
        yield c


@pytest.fixture(scope="module")
async def engine(policy_file: Path) -> AsyncIterator[Engine]:
    async with guarded_engine(policy_file) as eng:
        yield eng


@pytest.fixture(autouse=True)
def _remove_what_the_test_made(name: str) -> Iterator[None]:
    """Containers a test made (its name, `-w`, `-r` …): a swapped bind left behind
    would be judged by every later create."""
    yield
    ids = docker("ps", "-aq", "--filter", f"name={name}", check=False).split()
    if ids:
        docker("rm", "-fv", *ids, check=False)


async def engine_refused(call: Awaitable[Any], rule: str) -> None:
    with pytest.raises(errors.PolicyViolation) as info:
        await call
    assert info.value.status == 403
    assert info.value.code == "policy-violation"
    assert info.value.detail.startswith(rule + ":"), info.value.detail


def spec(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "image": TEST_IMAGE,
        "name": name,
        "command": ["sh", "-c", "echo pwned > /x/pwned; sleep 600"],
        "network": "none",
        "labels": labels(),
        **extra,
    }


def raw(host: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"Image": TEST_IMAGE, "Cmd": ["true"], "Labels": labels(), **top, "HostConfig": host}


def outside_volume(name: str, options: dict[str, str], driver: str = "local") -> str:
    """A volume made outside moorage, straight on the engine."""
    flags = [a for k, v in options.items() for a in ("-o", f"{k}={v}")]
    docker("volume", "create", "--driver", driver, *LABEL_FLAGS, *flags, name)
    return name


def run(name: str, *flags: str, start: bool = True) -> str:
    """A container made outside moorage (it sleeps)."""
    how = ["run", "-d"] if start else ["create"]
    docker(*how, *LABEL_FLAGS, *flags, "--name", name, TEST_IMAGE, "sleep", "600")
    return name


ATTEMPTS: list[str] = []  # every attempt's id, counted by test_the_catalogue_is_large_enough


def attempts(*table: tuple[Any, ...]) -> pytest.MarkDecorator:
    ATTEMPTS.extend(str(row[0]) for row in table)
    return pytest.mark.parametrize("case", list(table), ids=[str(row[0]) for row in table])


# -- 1. volumes made through moorage: what the driver options would mount ----------------

Opts = Callable[[Path], dict[str, str]]
VOLUME_CREATE: list[tuple[str, str, Opts, str]] = [
    (
        "ext4-disk",
        "local",
        lambda b: {"type": "ext4", "device": "/dev/vda"},
        "allow_volume_options",
    ),
    (
        "btrfs-disk",
        "local",
        lambda b: {"type": "btrfs", "device": "/dev/sda1", "o": "subvol=/"},
        "allow_volume_options",
    ),
    (
        "xfs-disk",
        "local",
        lambda b: {"type": "xfs", "device": "/dev/nvme0n1p1"},
        "allow_volume_options",
    ),
    (
        "overlay-etc",
        "local",
        lambda b: {"type": "overlay", "device": "overlay", "o": "lowerdir=/etc:/usr"},
        "allow_volume_options",
    ),
    (
        "nfs-export",
        "local",
        lambda b: {"type": "nfs", "device": ":/export", "o": "addr=127.0.0.1,rw"},
        "allow_volume_options",
    ),
    (
        "cifs-share",
        "local",
        lambda b: {"type": "cifs", "device": "//127.0.0.1/c$", "o": "username=x"},
        "allow_volume_options",
    ),
    (
        "bind-etc",
        "local",
        lambda b: {"type": "none", "o": "bind", "device": "/etc"},
        "bind_mount_prefixes",
    ),
    (
        "bind-root-rbind",
        "local",
        lambda b: {"type": "none", "o": "rbind", "device": "/"},
        "bind_mount_prefixes",
    ),
    (
        "bind-relative-dotdot",
        "local",
        lambda b: {"type": "none", "o": "bind", "device": "../../../etc"},
        "bind_mount_prefixes",
    ),
    (
        "bind-relative-into-prefix",
        "local",
        lambda b: {"type": "none", "o": "bind", "device": str(b / "data/sub")[1:]},
        "bind_mount_prefixes",
    ),
    (
        "bind-dotdot-out-of-prefix",
        "local",
        lambda b: {"type": "none", "o": "bind", "device": f"{b}/data/../outside"},
        "bind_mount_prefixes",
    ),
    (
        "tmpfs-type-with-bind-flag",
        "local",
        lambda b: {"type": "tmpfs", "o": "bind", "device": "/etc"},
        "bind_mount_prefixes",
    ),
    (
        "ext4-type-with-bind-flag",
        "local",
        lambda b: {"type": "ext4", "o": "size=1m,bind", "device": "/etc"},
        "bind_mount_prefixes",
    ),
    (
        "tmpfs-with-device",
        "local",
        lambda b: {"type": "tmpfs", "device": "/dev/sda", "o": "size=1m"},
        "allow_volume_options",
    ),
    (
        "tmpfs-remount-flag",
        "local",
        lambda b: {"type": "tmpfs", "device": "tmpfs", "o": "size=1m,remount"},
        "allow_volume_options",
    ),
    (
        "bind-in-prefix-plus-remount",
        "local",
        lambda b: {"type": "none", "o": "bind,remount", "device": f"{b}/data/sub"},
        "allow_volume_options",
    ),
    (
        "device-key-case",
        "local",
        lambda b: {"type": "none", "o": "bind", "Device": "/etc"},
        "bind_mount_prefixes",
    ),
    (
        "device-key-twice",
        "local",
        lambda b: {"type": "none", "o": "bind", "device": f"{b}/data", "DEVICE": "/"},
        "duplicate-keys",
    ),
    ("plugin-driver", "evil/plugin:latest", lambda b: {}, "allowed_volume_drivers"),
    ("driver-case", "Local", lambda b: {"type": "none", "device": "/"}, "allowed_volume_drivers"),
]


@attempts(*VOLUME_CREATE)
async def test_volume_create_refused(
    client: httpx.AsyncClient, base: Path, name: str, case: tuple[str, str, Opts, str]
) -> None:
    _, driver, opts, rule = case
    body = {"name": name, "driver": driver, "driver_opts": opts(base), "labels": labels()}
    refused(await client.post("/v1/volumes", json=body), rule)
    assert not exists("volume", name)


@attempts(("raw-lowercase-driveropts",))
async def test_volume_create_raw_lowercase_keys_refused(
    engine: Engine, name: str, case: tuple[str]
) -> None:
    """Go's JSON decoder reads `driveropts` as `DriverOpts`."""
    body = {"name": name, "labels": labels(), "driveropts": {"type": "ext4", "device": "/dev/vda"}}
    await engine_refused(engine.json("POST", "volumes/create", json=body), "allow_volume_options")
    assert not exists("volume", name)


# -- 1. volumes made outside moorage, then mounted through it -----------------------------

OUTSIDE: list[tuple[str, Opts, str, str]] = [
    (
        "outside-bind-etc-as-binds",
        lambda b: {"type": "none", "o": "bind", "device": "/etc"},
        "volumes-list",
        "bind_mount_prefixes",
    ),
    (
        "outside-bind-etc-as-mounts",
        lambda b: {"type": "none", "o": "bind", "device": "/etc"},
        "mounts",
        "bind_mount_prefixes",
    ),
    (
        "outside-bind-root-as-volumes-dict",
        lambda b: {"type": "none", "o": "rbind", "device": "/"},
        "volumes-dict",
        "bind_mount_prefixes",
    ),
    (
        "outside-bind-relative-dotdot",
        lambda b: {"type": "none", "o": "bind", "device": "../../etc"},
        "volumes-list",
        "bind_mount_prefixes",
    ),
    (
        "outside-bind-dotdot-out-of-prefix",
        lambda b: {"type": "none", "o": "bind", "device": f"{b}/data/sub/../../outside"},
        "mounts",
        "bind_mount_prefixes",
    ),
    (
        "outside-overlay-etc",
        lambda b: {"type": "overlay", "device": "overlay", "o": "lowerdir=/etc:/usr"},
        "mounts",
        "allow_volume_options",
    ),
    (
        "outside-ext4-disk",
        lambda b: {"type": "ext4", "device": "/dev/vda"},
        "volumes-list",
        "allow_volume_options",
    ),
    (
        "outside-tmpfs-exec-dev",
        lambda b: {"type": "tmpfs", "device": "tmpfs", "o": "size=1m,exec,dev"},
        "mounts",
        "allow_volume_options",
    ),
    (
        "outside-bind-etc-raw-lowercase-binds",
        lambda b: {"type": "none", "o": "bind", "device": "/etc"},
        "raw-binds",
        "bind_mount_prefixes",
    ),
    (
        "outside-bind-etc-raw-mounts-with-safe-driverconfig",
        lambda b: {"type": "none", "o": "bind", "device": "/etc"},
        "raw-mounts",
        "bind_mount_prefixes",
    ),
]


@attempts(*OUTSIDE)
async def test_volume_made_outside_is_judged_when_mounted(
    client: httpx.AsyncClient,
    engine: Engine,
    base: Path,
    name: str,
    case: tuple[str, Opts, str, str],
) -> None:
    _, opts, form, rule = case
    vol = outside_volume(f"{name}-v", opts(base))
    try:
        if form == "volumes-list":
            r = await client.post("/v1/containers", json=spec(name, volumes=[f"{vol}:/x"]))
        elif form == "volumes-dict":
            body = spec(name, volumes={vol: {"bind": "/x", "mode": "rw"}})
            r = await client.post("/v1/containers", json=body)
        elif form == "mounts":
            mounts = [{"type": "volume", "source": vol, "target": "/x"}]
            r = await client.post("/v1/containers", json=spec(name, mounts=mounts))
        if form.startswith("raw"):
            host: dict[str, Any]
            if form == "raw-binds":
                host = {"binds": [f"{vol}:/x:rw"]}
            else:  # a harmless DriverConfig: the engine keeps the existing volume's own
                host = {
                    "Mounts": [
                        {
                            "Type": "volume",
                            "Source": vol,
                            "Target": "/x",
                            "VolumeOptions": {"DriverConfig": {"Name": "local"}},
                        }
                    ]
                }
            call = engine.json("POST", "containers/create", params={"name": name}, json=raw(host))
            await engine_refused(call, rule)
        else:
            refused(r, rule)
        assert not exists("container", name)
    finally:
        docker("volume", "rm", "-f", vol, check=False)


RAW_CREATE: list[tuple[str, Callable[[Path], dict[str, Any]], str]] = [
    (
        "mounts-new-volume-bind-root-lowercase-keys",
        lambda b: {
            "mounts": [
                {
                    "type": "volume",
                    "source": "{name}-v",
                    "target": "/x",
                    "volumeoptions": {
                        "driverconfig": {"options": {"type": "none", "o": "bind", "device": "/"}}
                    },
                }
            ]
        },
        "bind_mount_prefixes",
    ),
    (
        "mounts-new-volume-overlay",
        lambda b: {
            "Mounts": [
                {
                    "Type": "volume",
                    "Source": "{name}-v",
                    "Target": "/x",
                    "VolumeOptions": {
                        "DriverConfig": {
                            "Name": "local",
                            "Options": {"type": "overlay", "o": "lowerdir=/etc", "device": "x"},
                        }
                    },
                }
            ]
        },
        "allow_volume_options",
    ),
    (
        "mounts-anonymous-volume-ext4",
        lambda b: {
            "Mounts": [
                {
                    "Type": "volume",
                    "Target": "/x",
                    "VolumeOptions": {
                        "DriverConfig": {"Options": {"type": "ext4", "device": "/dev/vda"}}
                    },
                }
            ]
        },
        "allow_volume_options",
    ),
    (
        "mounts-plugin-driverconfig",
        lambda b: {
            "Mounts": [
                {
                    "Type": "volume",
                    "Source": "{name}-v",
                    "Target": "/x",
                    "VolumeOptions": {"DriverConfig": {"Name": "vieux/sshfs"}},
                }
            ]
        },
        "allowed_volume_drivers",
    ),
    (
        "volume-driver-for-binds",
        lambda b: {"Binds": ["{name}-v:/x"], "VolumeDriver": "vieux/sshfs"},
        "allowed_volume_drivers",
    ),
    (
        "volume-driver-lowercase-key",
        lambda b: {"volumedriver": "rexray/ebs"},
        "allowed_volume_drivers",
    ),
]


@attempts(*RAW_CREATE)
async def test_volume_made_on_the_fly_is_judged_by_its_options(
    engine: Engine, base: Path, name: str, case: tuple[str, Any, str]
) -> None:
    _, host, rule = case
    body = raw(_named(host(base), name))
    await engine_refused(
        engine.json("POST", "containers/create", params={"name": name}, json=body), rule
    )
    assert not exists("container", name)
    assert not exists("volume", f"{name}-v")


def _named(doc: Any, name: str) -> Any:
    if isinstance(doc, dict):
        return {k: _named(v, name) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_named(v, name) for v in doc]
    return doc.replace("{name}", name) if isinstance(doc, str) else doc


def service(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "Name": name,
        "Labels": labels(),
        "TaskTemplate": {"ContainerSpec": {"Image": TEST_IMAGE, **spec}},
    }


SERVICES: list[tuple[str, Callable[[str], dict[str, Any]], str]] = [
    (
        "service-volume-bind-root",
        lambda vol: {
            "Mounts": [
                {
                    "Type": "volume",
                    "Source": "x",
                    "Target": "/x",
                    "VolumeOptions": {
                        "DriverConfig": {"Options": {"type": "none", "o": "bind", "device": "/"}}
                    },
                }
            ]
        },
        "bind_mount_prefixes",
    ),
    (
        "service-mounts-an-outside-volume",
        lambda vol: {"mounts": [{"type": "volume", "source": vol, "target": "/x"}]},
        "bind_mount_prefixes",
    ),
    (
        "service-plugin-volume",
        lambda vol: {
            "Mounts": [
                {
                    "Type": "volume",
                    "Source": "x",
                    "Target": "/x",
                    "VolumeOptions": {"DriverConfig": {"Name": "vieux/sshfs"}},
                }
            ]
        },
        "allowed_volume_drivers",
    ),
    ("service-sysctl", lambda vol: {"Sysctls": {"net.ipv4.ip_forward": "1"}}, "allowed_sysctls"),
]


@attempts(*SERVICES)
async def test_service_create_and_update_refused(
    engine: Engine, name: str, case: tuple[str, Callable[[str], dict[str, Any]], str]
) -> None:
    """The guard judges a Swarm service before the engine sees it (no swarm needed)."""
    _, make, rule = case
    vol = outside_volume(f"{name}-v", {"type": "none", "o": "bind", "device": "/etc"})
    try:
        body = service(make(vol), name)
        await engine_refused(engine.json("POST", "services/create", json=body), rule)
        call = engine.json("POST", f"services/{name}/update", params={"version": 1}, json=body)
        await engine_refused(call, rule)
    finally:
        docker("volume", "rm", "-f", vol, check=False)


# -- 5. namespace joins through a chain, volumes through VolumesFrom ----------------------


@pytest.fixture(scope="module")
def chains() -> Iterator[dict[str, str]]:
    """Containers made outside moorage: host namespaces at the ends of chains."""
    tag = uuid.uuid4().hex[:6]
    made: dict[str, str] = {}

    def make(key: str, *flags: str, start: bool = True) -> None:
        made[key] = run(f"mt-chain-{key}-{tag}", *flags, start=start)

    try:
        make("pid-host", "--network", "none", "--pid", "host")
        make("pid-b", "--network", "none", "--pid", f"container:{made['pid-host']}")
        make("pid-c", "--network", "none", "--pid", f"container:{made['pid-b']}")
        make("ipc-host", "--network", "none", "--ipc", "host")
        make("ipc-b", "--network", "none", "--ipc", f"container:{made['ipc-host']}")
        make("net-host", "--network", "host")
        make("net-b", "--network", f"container:{made['net-host']}")
        make("net-c", "--network", f"container:{made['net-b']}")
        # Made only: a privileged container cannot start here (nested), nor one joining it.
        make("priv", "--network", "none", "--privileged", start=False)
        make("priv-b", "--network", "none", "--pid", f"container:{made['priv']}", start=False)
        make("bind-etc", "--network", "none", "-v", "/etc:/host-etc:ro")
        make("vf-b", "--network", "none", "--volumes-from", made["bind-etc"])
        vol = outside_volume(f"mt-chain-vol-{tag}", {"type": "none", "o": "bind", "device": "/"})
        make("bad-vol", "--network", "none", "-v", f"{vol}:/host:ro")
        yield made
    finally:
        if made:
            docker("rm", "-f", *made.values(), check=False)
        docker("volume", "rm", "-f", f"mt-chain-vol-{tag}", check=False)


CHAIN_ROUTE: list[tuple[str, str, str, str]] = [
    ("pid-chain-of-2", "pid_mode", "pid-b", "allow_host_namespaces"),
    ("pid-chain-of-3", "pid_mode", "pid-c", "allow_host_namespaces"),
    ("ipc-chain-of-2", "ipc_mode", "ipc-b", "allow_host_namespaces"),
    ("pid-chain-to-privileged", "pid_mode", "priv-b", "allow_privileged"),
]


@attempts(*CHAIN_ROUTE)
async def test_route_join_through_a_chain_refused(
    client: httpx.AsyncClient, chains: dict[str, str], name: str, case: tuple[str, str, str, str]
) -> None:
    _, field, target, rule = case
    body = spec(name, security={field: f"container:{chains[target]}"})
    refused(await client.post("/v1/containers", json=body), rule)
    assert not exists("container", name)


CHAIN_RAW: list[tuple[str, dict[str, Any], str]] = [
    ("net-chain-of-2", {"NetworkMode": "container:{net-b}"}, "allow_host_namespaces"),
    ("net-chain-of-3", {"networkmode": "container:{net-c}"}, "allow_host_namespaces"),
    ("pid-chain-Container-case", {"PidMode": "Container:{pid-c}"}, "allow_host_namespaces"),
    ("pid-chain-by-short-id", {"PidMode": "container:{pid-b:id}"}, "allow_host_namespaces"),
    ("ipc-chain-lowercase-key", {"ipcmode": " container:{ipc-b} "}, "allow_host_namespaces"),
    ("volumes-from-a-chain", {"VolumesFrom": ["{vf-b}:ro"]}, "bind_mount_prefixes"),
    ("volumes-from-a-bad-volume", {"volumesfrom": ["{bad-vol}"]}, "bind_mount_prefixes"),
]


@attempts(*CHAIN_RAW)
async def test_engine_join_through_a_chain_refused(
    engine: Engine, chains: dict[str, str], name: str, case: tuple[str, dict[str, Any], str]
) -> None:
    _, host, rule = case

    def fill(text: str) -> str:
        for key, ref in chains.items():
            if f"{{{key}:id}}" in text:
                text = text.replace(f"{{{key}:id}}", inspect("container", ref)["Id"][:12])
            text = text.replace(f"{{{key}}}", ref)
        return text

    resolved = {k: fill(v) if isinstance(v, str) else [fill(x) for x in v] for k, v in host.items()}
    call = engine.json("POST", "containers/create", params={"name": name}, json=raw(resolved))
    await engine_refused(call, rule)
    assert not exists("container", name)


@attempts(("pid-chain-longer-than-followed",))
async def test_a_chain_too_long_to_follow_is_refused(
    engine: Engine, name: str, case: tuple[str]
) -> None:
    """Made only (joins are stored by id at create): the end is never reached."""
    links = [run(f"{name}-0", "--network", "none", start=False)]
    for i in range(1, MAX_JOIN_DEPTH + 1):
        links.append(
            run(f"{name}-{i}", "--network", "none", "--pid", f"container:{links[-1]}", start=False)
        )
    call = engine.json(
        "POST",
        "containers/create",
        params={"name": name},
        json=raw({"PidMode": f"container:{links[-1]}"}),
    )
    await engine_refused(call, "allow_host_namespaces")
    assert not exists("container", name)


# -- 7. sysctls and networks --------------------------------------------------------------

SYSCTLS: list[tuple[str, dict[str, str]]] = [
    ("sysctl-ip-forward", {"net.ipv4.ip_forward": "1"}),
    ("sysctl-slash-spelling", {"net/ipv4/conf/all/forwarding": "1"}),
    ("sysctl-ipc-limits", {"kernel.msgmax": "65536"}),
    ("sysctl-core-pattern", {"kernel.core_pattern": "|/tmp/x"}),
    ("sysctl-one-safe-one-not", {"net.ipv4.tcp_syncookies": "1", "net.core.somaxconn": "9"}),
]


@attempts(*SYSCTLS)
async def test_sysctls_refused(
    client: httpx.AsyncClient, name: str, case: tuple[str, dict[str, str]]
) -> None:
    body = spec(name, security={"sysctls": case[1]})
    refused(await client.post("/v1/containers", json=body), "allowed_sysctls")
    assert not exists("container", name)


@attempts(("sysctl-raw-lowercase-key",))
async def test_sysctls_raw_lowercase_refused(engine: Engine, name: str, case: tuple[str]) -> None:
    body = raw({"sysctls": {"net.ipv4.conf.all.route_localnet": "1"}})
    call = engine.json("POST", "containers/create", params={"name": name}, json=body)
    await engine_refused(call, "allowed_sysctls")
    assert not exists("container", name)


@attempts(("safe-sysctl-into-a-joined-netns",), ("safe-sysctl-into-a-joined-ipcns",))
async def test_safe_sysctls_in_a_joined_namespace_refused(
    client: httpx.AsyncClient, engine: Engine, name: str, case: tuple[str]
) -> None:
    """A safe sysctl set in another container's namespace changes that container."""
    other = run(f"{name}-o", "--network", "none", "--ipc", "shareable")
    before = docker("exec", other, "cat", "/proc/sys/net/ipv4/tcp_syncookies")
    if case[0].endswith("netns"):
        body = raw(
            {"NetworkMode": f"container:{other}", "Sysctls": {"net.ipv4.tcp_syncookies": "0"}}
        )
        call = engine.json("POST", "containers/create", params={"name": name}, json=body)
        await engine_refused(call, "allowed_sysctls")
    else:
        security = {"ipc_mode": f"container:{other}", "sysctls": {"kernel.shm_rmid_forced": "1"}}
        refused(
            await client.post("/v1/containers", json=spec(name, security=security)),
            "allowed_sysctls",
        )
    assert not exists("container", name)
    assert docker("exec", other, "cat", "/proc/sys/net/ipv4/tcp_syncookies") == before


NETWORKS: list[tuple[str, dict[str, Any], str]] = [
    (
        "macvlan-on-lo",
        {"driver": "macvlan", "options": {"parent": "lo"}},
        "allowed_network_drivers",
    ),
    ("ipvlan-on-lo", {"driver": "ipvlan", "options": {"parent": "lo"}}, "allowed_network_drivers"),
    ("macvlan-case", {"driver": "MACVLAN"}, "allowed_network_drivers"),
    (
        "bridge-taking-docker0",
        {"driver": "bridge", "options": {"com.docker.network.bridge.name": "docker0"}},
        "allowed_network_parents",
    ),
    ("bridge-parent-option", {"options": {"Parent": "lo"}}, "allowed_network_parents"),
]


@attempts(*NETWORKS)
async def test_network_create_refused(
    client: httpx.AsyncClient, name: str, case: tuple[str, dict[str, Any], str]
) -> None:
    _, extra, rule = case
    body = {"name": name, "labels": labels(), **extra}
    refused(await client.post("/v1/networks", json=body), rule)
    assert not exists("network", name)


@attempts(("network-config-from-a-parent",))
async def test_network_config_from_refused(engine: Engine, name: str, case: tuple[str]) -> None:
    """A config-only network made outside moorage hands its `parent` to the new one."""
    config = f"{name}-cfg"
    docker("network", "create", "--config-only", "-o", "parent=lo", *LABEL_FLAGS, config)
    try:
        body = {"Name": name, "Labels": labels(), "configfrom": {"network": config}}
        await engine_refused(
            engine.json("POST", "networks/create", json=body), "allowed_network_parents"
        )
        assert not exists("network", name)
    finally:
        docker("network", "rm", config, check=False)


# -- 2. binds swapped after the check -----------------------------------------------------


def swap(path: Path, target: Path | str) -> None:
    """What a writer of the parent directory does: the directory becomes a symlink."""
    path.rename(path.with_name(path.name + ".was"))
    os.symlink(target, path)


async def created(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    r = await client.post("/v1/containers", json={**body, "start": False})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def never_started(ref: str) -> None:
    state = inspect("container", ref)["State"]
    assert not state["Running"]
    assert state["StartedAt"] == NEVER_STARTED


def written_on_the_host(name: str, *, remove: bool = False) -> bool:
    path = Path("/", name)
    found = path.exists()
    if remove:
        path.unlink(missing_ok=True)
    return found


def swap_dir(base: Path, name: str) -> Path:
    path = base / "data" / name
    path.mkdir()
    return path


@attempts(("swap-binds-for-outside-then-start",))
async def test_swap_binds_then_start(
    client: httpx.AsyncClient, base: Path, name: str, case: tuple[str]
) -> None:
    src = swap_dir(base, name)
    cid = await created(client, spec(name, volumes=[f"{src}:/x"]))
    swap(src, base / "outside")
    refused(await client.post(f"/v1/containers/{cid}/start"), "bind_mount_prefixes")
    never_started(cid)
    assert not (base / "outside" / "pwned").exists()


@attempts(("swap-mounts-for-root-then-start",))
async def test_swap_mounts_for_root_then_start(
    client: httpx.AsyncClient, base: Path, name: str, case: tuple[str]
) -> None:
    src = swap_dir(base, name)
    marker = f"moorage-pwned-{uuid.uuid4().hex}"
    body = spec(name, mounts=[{"type": "bind", "source": str(src), "target": "/x"}])
    body["command"] = ["sh", "-c", f"echo pwned > /x/{marker}"]
    cid = await created(client, body)
    swap(src, "/")
    try:
        refused(await client.post(f"/v1/containers/{cid}/start"), "bind_mount_prefixes")
        never_started(cid)
        assert not written_on_the_host(marker)
    finally:
        written_on_the_host(marker, remove=True)


@attempts(("swap-ro-bind-for-etc-then-start-through-aiodocker",))
async def test_swap_for_etc_then_start_through_aiodocker(
    client: httpx.AsyncClient, engine: Engine, base: Path, name: str, case: tuple[str]
) -> None:
    src = swap_dir(base, name)
    cid = await created(client, spec(name, volumes={str(src): {"bind": "/x", "mode": "ro"}}))
    swap(src, "/etc")
    await engine_refused(engine.docker.containers.container(cid).start(), "bind_mount_prefixes")
    never_started(cid)


@attempts(("swap-an-ancestor-then-start",))
async def test_swap_an_ancestor_then_start(
    client: httpx.AsyncClient, base: Path, name: str, case: tuple[str]
) -> None:
    """`data/a/deep` bound; `data/a` becomes a symlink to a dir holding a `deep`."""
    parent = swap_dir(base, name)
    (parent / "deep").mkdir()
    cid = await created(client, spec(name, volumes=[f"{parent}/deep:/x"]))
    swap(parent, base / "outside")
    refused(await client.post(f"/v1/containers/{cid}/start"), "bind_mount_prefixes")
    never_started(cid)
    assert not (base / "outside" / "deep" / "pwned").exists()


@attempts(("swap-a-bind-volume-then-start",))
async def test_swap_a_bind_volume_then_start(
    client: httpx.AsyncClient, base: Path, name: str, case: tuple[str]
) -> None:
    """A volume binding a directory under the prefix (allowed), swapped before start."""
    src = swap_dir(base, name)
    opts = {"type": "none", "o": "bind", "device": str(src)}
    r = await client.post(
        "/v1/volumes", json={"name": f"{name}-v", "driver_opts": opts, "labels": labels()}
    )
    assert r.status_code == 201, r.text
    try:
        cid = await created(client, spec(name, volumes=[f"{name}-v:/x"]))
        swap(src, base / "outside")
        refused(await client.post(f"/v1/containers/{cid}/start"), "bind_mount_prefixes")
        never_started(cid)
        assert not (base / "outside" / "pwned").exists()
    finally:
        docker("rm", "-f", name, check=False)
        docker("volume", "rm", "-f", f"{name}-v", check=False)


@attempts(("swap-while-running-then-restart",))
async def test_swap_while_running_then_restart(
    client: httpx.AsyncClient, base: Path, name: str, case: tuple[str]
) -> None:
    src = swap_dir(base, name)
    body = spec(name, volumes=[f"{src}:/x"])
    body["command"] = ["sh", "-c", "echo started >> /x/log; sleep 600"]
    r = await client.post("/v1/containers", json=body)
    assert r.status_code == 201, r.text
    cid = str(r.json()["id"])
    started = inspect("container", cid)["State"]["StartedAt"]
    swap(src, base / "outside")
    refused(await client.post(f"/v1/containers/{cid}/restart?timeout=0"), "bind_mount_prefixes")
    state = inspect("container", cid)["State"]
    assert state["StartedAt"] == started  # not restarted (still on the directory it had)
    assert not (base / "outside" / "log").exists()


# -- 2. the race no re-check closes: binds below a directory a container can write --------


HOST_WRITERS: list[tuple[str, Callable[[Path], None]]] = [
    ("bind-below-a-world-writable-dir", lambda d: d.chmod(0o777)),
    ("bind-below-a-group-writable-dir", lambda d: d.chmod(0o775)),
    ("bind-below-a-dir-of-another-user", lambda d: os.chown(d, 1000, 1000)),
]


@attempts(*HOST_WRITERS)
async def test_bind_below_a_dir_others_on_the_host_can_write_refused(
    client: httpx.AsyncClient,
    base: Path,
    name: str,
    case: tuple[str, Callable[[Path], None]],
) -> None:
    """A host user who can write the parent could swap the source between check and mount."""
    top = swap_dir(base, name)
    (top / "inner").mkdir()
    case[1](top)
    r = await client.post("/v1/containers", json=spec(name, volumes=[f"{top}/inner:/x"]))
    refused(r, "bind_mount_prefixes")
    assert not exists("container", name)


@attempts(("bind-of-another-users-dir-in-a-sticky-dir",))
async def test_bind_of_another_users_entry_in_a_sticky_dir_refused(
    client: httpx.AsyncClient, base: Path, name: str, case: tuple[str]
) -> None:
    top = swap_dir(base, name)
    top.chmod(0o1777)  # like /tmp: others cannot rename what they do not own…
    (top / "inner").mkdir()
    os.chown(top / "inner", 1000, 1000)  # …but this one is theirs
    r = await client.post("/v1/containers", json=spec(name, volumes=[f"{top}/inner:/x"]))
    refused(r, "bind_mount_prefixes")
    assert not exists("container", name)
    os.chown(top / "inner", 0, 0)
    body = {**spec(name, volumes=[f"{top}/inner:/x"]), "start": False}
    assert (await client.post("/v1/containers", json=body)).status_code == 201


@attempts(("bind-below-a-writable-bind",))
async def test_bind_below_a_writable_bind_refused(
    client: httpx.AsyncClient, base: Path, name: str, case: tuple[str]
) -> None:
    top = swap_dir(base, name)
    (top / "inner").mkdir()
    writer = await created(client, spec(f"{name}-w", volumes=[f"{top}:/d"]))
    try:
        r = await client.post("/v1/containers", json=spec(name, volumes=[f"{top}/inner:/x:ro"]))
        refused(r, "bind_mount_prefixes")
        assert not exists("container", name)
    finally:
        docker("rm", "-f", writer, check=False)


@attempts(("bind-below-a-writable-bind-volume",))
async def test_bind_below_a_writable_bind_volume_refused(
    client: httpx.AsyncClient, base: Path, name: str, case: tuple[str]
) -> None:
    """An `o=bind` volume mounted writable is a writable bind of its device."""
    top = swap_dir(base, name)
    (top / "inner").mkdir()
    opts = {"type": "none", "o": "bind", "device": str(top)}
    vol = f"{name}-v"
    body = {"name": vol, "driver_opts": opts, "labels": labels()}
    r = await client.post("/v1/volumes", json=body)
    assert r.status_code == 201, r.text
    try:
        await created(client, spec(f"{name}-w", volumes=[f"{vol}:/d"]))
        r = await client.post("/v1/containers", json=spec(name, volumes=[f"{top}/inner:/x:ro"]))
        refused(r, "bind_mount_prefixes")
        assert not exists("container", name)
    finally:
        docker("rm", "-f", f"{name}-w", check=False)
        docker("volume", "rm", "-f", vol, check=False)


@attempts(("writable-bind-above-another-bind",))
async def test_writable_bind_above_another_refused(
    client: httpx.AsyncClient, base: Path, name: str, case: tuple[str]
) -> None:
    top = swap_dir(base, name)
    (top / "inner").mkdir()
    reader = await created(client, spec(f"{name}-r", volumes=[f"{top}/inner:/x:ro"]))
    try:
        r = await client.post(
            "/v1/containers",
            json=spec(name, mounts=[{"type": "bind", "source": str(top), "target": "/d"}]),
        )
        refused(r, "bind_mount_prefixes")
        assert not exists("container", name)
    finally:
        docker("rm", "-f", reader, check=False)


@attempts(("writable-bind-and-its-child-in-one-container",))
async def test_writable_bind_and_its_child_in_one_container_refused(
    client: httpx.AsyncClient, base: Path, name: str, case: tuple[str]
) -> None:
    """The container itself could swap the child, and the engine restarts it on its own."""
    top = swap_dir(base, name)
    (top / "inner").mkdir()
    body = spec(name, volumes=[f"{top}:/d", f"{top}/inner:/x"], restart_policy={"name": "always"})
    refused(await client.post("/v1/containers", json=body), "bind_mount_prefixes")
    assert not exists("container", name)


@attempts(("bind-below-a-writable-bind-made-outside",))
async def test_bind_below_an_outside_writable_bind_refused(
    client: httpx.AsyncClient, base: Path, name: str, case: tuple[str]
) -> None:
    top = swap_dir(base, name)
    (top / "inner").mkdir()
    writer = f"{name}-w"
    docker("create", *LABEL_FLAGS, "--network", "none", "-v", f"{top}:/d", "--name", writer,
           TEST_IMAGE, "sleep", "600")  # fmt: skip
    try:
        r = await client.post("/v1/containers", json=spec(name, volumes=[f"{top}/inner:/x"]))
        refused(r, "bind_mount_prefixes")
        assert not exists("container", name)
    finally:
        docker("rm", "-f", writer, check=False)


@attempts(("start-below-a-writable-bind-made-since",))
async def test_start_below_a_writable_bind_made_since_refused(
    client: httpx.AsyncClient, base: Path, name: str, case: tuple[str]
) -> None:
    """Created when nothing could write above it; a writer made outside since."""
    top = swap_dir(base, name)
    (top / "inner").mkdir()
    cid = await created(client, spec(name, volumes=[f"{top}/inner:/x"]))
    writer = f"{name}-w"
    docker("create", *LABEL_FLAGS, "--network", "none", "-v", f"{top}:/d", "--name", writer,
           TEST_IMAGE, "sleep", "600")  # fmt: skip
    try:
        refused(await client.post(f"/v1/containers/{cid}/start"), "bind_mount_prefixes")
        never_started(cid)
    finally:
        docker("rm", "-f", writer, check=False)


def test_the_catalogue_is_large_enough() -> None:
    assert len(ATTEMPTS) >= 35, len(ATTEMPTS)
    assert len(set(ATTEMPTS)) == len(ATTEMPTS)


# -- what stays allowed ---------------------------------------------------------------


async def test_plain_tmpfs_and_local_volumes_are_allowed(
    client: httpx.AsyncClient, name: str
) -> None:
    tmpfs = {"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1000,mode=0700"}
    for vol, opts in ((f"{name}-t", tmpfs), (f"{name}-p", {})):
        r = await client.post(
            "/v1/volumes", json={"name": vol, "driver_opts": opts, "labels": labels()}
        )
        assert r.status_code == 201, r.text
    try:
        body = spec(name, volumes=[f"{name}-t:/t", f"{name}-p:/p"], command=["true"])
        r = await client.post("/v1/containers", json=body)
        assert r.status_code == 201, r.text
    finally:
        docker("rm", "-f", name, check=False)
        docker("volume", "rm", "-f", f"{name}-t", f"{name}-p", check=False)


async def test_binds_side_by_side_and_under_a_read_only_parent_are_allowed(
    client: httpx.AsyncClient, base: Path, name: str
) -> None:
    top = swap_dir(base, name)
    for d in ("a", "b"):
        (top / d).mkdir()
    made = []
    try:
        for suffix, volumes in (
            ("a", [f"{top}/a:/x"]),
            ("b", [f"{top}/b:/x"]),
            ("ro", [f"{top}:/d:ro", f"{top}/a:/x"]),
        ):
            r = await client.post(
                "/v1/containers", json={**spec(f"{name}-{suffix}", volumes=volumes), "start": False}
            )
            assert r.status_code == 201, r.text
            made.append(f"{name}-{suffix}")
        r = await client.post(f"/v1/containers/{name}-a/start")
        assert r.status_code == 200, r.text
    finally:
        docker("rm", "-f", *made, check=False)


async def test_safe_sysctls_and_a_plain_bridge_are_allowed(
    client: httpx.AsyncClient, name: str
) -> None:
    body = spec(name, security={"sysctls": {"net.ipv4.ip_unprivileged_port_start": "80"}})
    r = await client.post("/v1/containers", json={**body, "command": ["true"], "start": False})
    assert r.status_code == 201, r.text
    docker("rm", "-f", name, check=False)
    r = await client.post("/v1/networks", json={"name": name, "labels": labels()})
    assert r.status_code == 201, r.text
    docker("network", "rm", name, check=False)


def test_policy_keys_relax_what_they_name(tmp_path: Path) -> None:
    policy = Policy(
        bind_mount_prefixes=[str(tmp_path)],
        allowed_volume_drivers=["local", "vieux/sshfs"],
        allow_volume_options=True,
        allowed_sysctls=["net.*"],
        allowed_network_drivers=["bridge", "macvlan"],
        allowed_network_parents=["eth*"],
    )
    policy.check_volume("vieux/sshfs", {"sshcmd": "u@h:/"})
    policy.check_volume("local", {"type": "nfs", "device": ":/export", "o": "addr=10.0.0.1"})
    policy.check_sysctls({"net.ipv4.ip_forward": "1"})
    policy.check_network_options("macvlan", {"parent": "eth0"}, "network")
    # options allowed, but never a host path outside the prefixes nor a disk without devices
    with pytest.raises(errors.PolicyViolation, match=r"^bind_mount_prefixes:"):
        policy.check_volume("local", {"type": "overlay", "o": "lowerdir=/etc", "device": "x"})
    with pytest.raises(errors.PolicyViolation, match=r"^allow_devices:"):
        policy.check_volume("local", {"type": "ext4", "device": "/dev/vda"})
    with pytest.raises(errors.PolicyViolation, match=r"^allowed_network_parents:"):
        policy.check_network_options("macvlan", {"parent": "wlan0"}, "network")


def test_defaults_for_the_new_keys_are_strict() -> None:
    policy = Policy()
    assert policy.allowed_volume_drivers == ["local"]
    assert not policy.allow_volume_options
    assert "net.ipv4.ip_forward" not in policy.allowed_sysctls
    assert "macvlan" not in policy.allowed_network_drivers
    assert "ipvlan" not in policy.allowed_network_drivers
    assert policy.allowed_network_parents == []
