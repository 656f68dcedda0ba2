"""Pure translation, no engine: ContainerSpec → create payload, engine docs → views."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.models.containers import (
    Container,
    ContainerSpec,
    ContainerSummary,
    ContainerUpdate,
)


def payload(**spec: Any) -> dict[str, Any]:
    return ContainerSpec.model_validate({"image": "busybox", **spec}).to_engine()


def test_minimal() -> None:
    assert payload() == {"Image": "busybox", "Tty": False, "HostConfig": {}}


def test_command_and_entrypoint() -> None:
    body = payload(command="sh -c 'echo a b'", entrypoint=["/bin/sh"])
    assert body["Cmd"] == ["sh", "-c", "echo a b"]
    assert body["Entrypoint"] == ["/bin/sh"]
    assert payload(command=["a", "b c"])["Cmd"] == ["a", "b c"]
    assert payload(command="")["Cmd"] == []


def test_environment_forms() -> None:
    assert payload(environment={"A": "1", "B": "x=y"})["Env"] == ["A=1", "B=x=y"]
    assert payload(environment=["A=1", "B=x=y"])["Env"] == ["A=1", "B=x=y"]


@pytest.mark.parametrize(
    ("ports", "exposed", "bindings"),
    [
        ({"8000/tcp": 8080}, ["8000/tcp"], {"8000/tcp": [{"HostIp": "", "HostPort": "8080"}]}),
        (
            {"8000/tcp": ["127.0.0.1", 8080]},
            ["8000/tcp"],
            {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
        ),
        (
            {"8000/tcp": ["127.0.0.1", None]},
            ["8000/tcp"],
            {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
        ),
        ({"8000/tcp": None}, ["8000/tcp"], {"8000/tcp": [{"HostIp": "", "HostPort": ""}]}),
        ({"8000": 1}, ["8000/tcp"], {"8000/tcp": [{"HostIp": "", "HostPort": "1"}]}),
        (  # the object form the spec shows generated clients
            {"8000/tcp": {"host_ip": "127.0.0.1", "host_port": 8080}},
            ["8000/tcp"],
            {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
        ),
        ({"8000/tcp": {}}, ["8000/tcp"], {"8000/tcp": [{"HostIp": "", "HostPort": ""}]}),
        (
            [{"53/udp": 5353}, {"53/udp": ["::1", None]}],
            ["53/udp"],
            {
                "53/udp": [
                    {"HostIp": "", "HostPort": "5353"},
                    {"HostIp": "::1", "HostPort": ""},
                ]
            },
        ),
    ],
)
def test_ports(ports: Any, exposed: list[str], bindings: dict[str, Any]) -> None:
    body = payload(ports=ports)
    assert sorted(body["ExposedPorts"]) == exposed
    assert body["HostConfig"]["PortBindings"] == bindings


@pytest.mark.parametrize(
    "ports",
    [
        {"0/tcp": 1},
        {"70000": 1},
        {"80/icmp": 1},
        {"http": 1},
        {"80": 0},
        {"80": 65536},
        {"80": "8080"},
        {"80": ["not-an-ip", 1]},
        {"80": [1, 2, 3]},
        {"80": True},
        {"80": {"host_ip": "not-an-ip"}},
        {"80": {"host_port": 8080, "hostport": 1}},
    ],
)
def test_bad_ports(ports: Any) -> None:
    with pytest.raises(ValidationError) as info:
        ContainerSpec.model_validate({"image": "busybox", "ports": ports})
    assert all(e["loc"][0] == "ports" for e in info.value.errors())


def test_mounts_and_volumes() -> None:
    body = payload(
        mounts=[
            {"type": "volume", "source": "data", "target": "/data"},
            {"type": "bind", "source": "/tmp", "target": "/host", "read_only": True},
            {"type": "tmpfs", "target": "/scratch"},
        ],
        volumes={"vol": {"bind": "/v", "mode": "ro"}},
    )
    assert body["HostConfig"]["Mounts"] == [
        {"Type": "volume", "Source": "data", "Target": "/data", "ReadOnly": False},
        {"Type": "bind", "Source": "/tmp", "Target": "/host", "ReadOnly": True},
        {"Type": "tmpfs", "Target": "/scratch", "ReadOnly": False},
    ]
    assert body["HostConfig"]["Binds"] == ["vol:/v:ro"]
    assert payload(volumes=["/tmp:/t:ro", "v:/v"])["HostConfig"]["Binds"] == [
        "/tmp:/t:ro",
        "v:/v",
    ]


@pytest.mark.parametrize(
    "spec",
    [
        {"mounts": [{"type": "bind", "source": "rel", "target": "/x"}]},
        {"mounts": [{"type": "tmpfs", "source": "x", "target": "/x"}]},
        {"mounts": [{"type": "npipe", "target": "/x"}]},
        {"mounts": [{"type": "volume", "target": "relative"}]},
        {"volumes": ["onlyone"]},
        {"volumes": ["v:/x:rx"]},
        {"volumes": {"v": {"bind": "rel"}}},
    ],
)
def test_bad_mounts(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ContainerSpec.model_validate({"image": "busybox", **spec})


def test_healthcheck_seconds_to_ns() -> None:
    hc = payload(
        healthcheck={
            "test": "true",
            "interval": 1.5,
            "timeout": 0.25,
            "retries": 3,
            "start_period": 0,
        }
    )["Healthcheck"]
    assert hc == {
        "Test": ["CMD-SHELL", "true"],
        "Interval": 1_500_000_000,
        "Timeout": 250_000_000,
        "StartPeriod": 0,
        "Retries": 3,
    }
    assert payload(healthcheck={"test": ["true"]})["Healthcheck"] == {"Test": ["CMD", "true"]}
    assert payload(healthcheck={"test": ["NONE"]})["Healthcheck"] == {"Test": ["NONE"]}
    with pytest.raises(ValidationError, match="interval"):
        ContainerSpec.model_validate(
            {"image": "b", "healthcheck": {"test": "true", "interval": 0.0001}}
        )


def test_resources_security_and_the_rest() -> None:
    body = payload(
        name="web-1",
        labels=["a=1"],
        hostname="h",
        user="1000:1000",
        working_dir="/w",
        init=True,
        tty=True,
        auto_remove=True,
        network="net",
        network_aliases=["db"],
        tmpfs=["/run:size=1m", "/t"],
        resources={
            "cpus": 0.5,
            "memory": "512m",
            "memory_swap": -1,
            "memory_reservation": "1g",
            "pids_limit": 100,
            "cpu_shares": 512,
            "cpuset_cpus": "0-1",
            "blkio_weight": 300,
            "ulimits": [{"name": "nofile", "soft": 1024, "hard": 2048}],
        },
        security={
            "privileged": False,
            "read_only": True,
            "cap_add": ["NET_ADMIN"],
            "cap_drop": ["ALL"],
            "security_opt": ["label=disable"],
            "no_new_privileges": True,
            "pid_mode": "host",
            "ipc_mode": "private",
            "devices": ["/dev/null:/dev/nul2:r"],
            "sysctls": {"net.core.somaxconn": "1024"},
        },
    )
    host = body["HostConfig"]
    assert body["Labels"] == {"a": "1"}
    assert (body["Hostname"], body["User"], body["WorkingDir"], body["Tty"]) == (
        "h",
        "1000:1000",
        "/w",
        True,
    )
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"net": {"Aliases": ["db"]}}}
    assert host["NetworkMode"] == "net"
    assert host["Init"] is True
    assert host["AutoRemove"] is True
    assert host["Tmpfs"] == {"/run": "size=1m", "/t": ""}
    assert host["NanoCpus"] == 500_000_000
    assert host["Memory"] == 512 * 1024 * 1024
    assert host["MemorySwap"] == -1
    assert host["MemoryReservation"] == 1 << 30
    assert (host["PidsLimit"], host["CpuShares"], host["CpusetCpus"], host["BlkioWeight"]) == (
        100,
        512,
        "0-1",
        300,
    )
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert host["ReadonlyRootfs"] is True
    assert host["Privileged"] is False
    assert host["CapAdd"] == ["NET_ADMIN"]
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["label=disable", "no-new-privileges:true"]
    assert (host["PidMode"], host["IpcMode"]) == ("host", "private")
    assert host["Devices"] == [
        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/nul2", "CgroupPermissions": "r"}
    ]
    assert host["Sysctls"] == {"net.core.somaxconn": "1024"}


def test_restart_policy_and_consistency() -> None:
    rp = payload(restart_policy={"name": "on-failure", "maximum_retry_count": 2})
    assert rp["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    with pytest.raises(ValidationError, match="auto_remove"):
        ContainerSpec.model_validate(
            {"image": "b", "auto_remove": True, "restart_policy": {"name": "always"}}
        )
    with pytest.raises(ValidationError, match="network_aliases"):
        ContainerSpec.model_validate({"image": "b", "network_aliases": ["x"]})


def test_update_payload() -> None:
    up = ContainerUpdate.model_validate(
        {"resources": {"memory": "64m"}, "restart_policy": {"name": "always"}}
    )
    assert up.to_engine() == {
        "Memory": 64 << 20,
        "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
    }
    assert ContainerUpdate(name="x").to_engine() == {}


INSPECT: dict[str, Any] = {
    "Id": "0123456789abcdef" * 4,
    "Created": "2026-01-01T00:00:00.123456789Z",
    "Path": "sleep",
    "Args": ["30"],
    "State": {
        "Status": "exited",
        "ExitCode": 3,
        "StartedAt": "2026-01-01T00:00:01Z",
        "FinishedAt": "2026-01-01T00:00:02Z",
        "Health": {"Status": "unhealthy", "FailingStreak": 3, "Log": []},
    },
    "Image": "sha256:feed",
    "Name": "/web",
    "RestartCount": 2,
    "Mounts": [
        {
            "Type": "volume",
            "Name": "data",
            "Source": "/var/lib/docker/volumes/data/_data",
            "Destination": "/data",
            "Driver": "local",
            "Mode": "z",
            "RW": False,
        }
    ],
    "Config": {"Image": "busybox:latest", "Labels": {"a": "1"}},
    "NetworkSettings": {
        "Ports": {
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
            "53/udp": None,
        },
        "Networks": {
            "net": {
                "NetworkID": "n1",
                "IPAddress": "172.18.0.2",
                "Gateway": "172.18.0.1",
                "MacAddress": "02:42:ac:12:00:02",
                "Aliases": ["db"],
            }
        },
    },
}


def test_container_from_inspect() -> None:
    c = Container.from_inspect(INSPECT)
    assert c.short_id == "0123456789ab"
    assert (c.name, c.image, c.image_id, c.command) == (
        "web",
        "busybox:latest",
        "sha256:feed",
        "sleep 30",
    )
    assert (c.status, c.health, c.exit_code, c.restart_count) == ("exited", "unhealthy", 3, 2)
    assert c.started_at == "2026-01-01T00:00:01Z"
    assert [p.model_dump() for p in c.ports] == [
        {"container_port": 80, "protocol": "tcp", "host_ip": "127.0.0.1", "host_port": 8080},
        {"container_port": 53, "protocol": "udp", "host_ip": None, "host_port": None},
    ]
    assert c.mounts[0].read_only is True
    assert c.networks["net"].aliases == ["db"]
    assert c.attrs is INSPECT or c.attrs == INSPECT
    quoted = {**INSPECT, "Path": "sh", "Args": ["-c", "echo hi > /tmp/x"]}
    assert Container.from_inspect(quoted).command == "sh -c 'echo hi > /tmp/x'"
    running = {**INSPECT, "State": {"Status": "running", "ExitCode": 0}}
    r = Container.from_inspect(running)
    assert (r.exit_code, r.health, r.finished_at) == (None, "none", None)


def test_summary_from_list() -> None:
    doc = {
        "Id": "f" * 64,
        "Names": ["/web"],
        "Image": "busybox",
        "Command": "sleep 30",
        "Created": 1767225600,
        "State": "running",
        "Status": "Up 3 minutes (health: starting)",
        "Labels": {"a": "1"},
        "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
    }
    s = ContainerSummary.from_list(doc)
    assert (s.name, s.state, s.health, s.created) == (
        "web",
        "running",
        "starting",
        "2026-01-01T00:00:00Z",
    )
    assert s.ports[0].host_port == 8080
    assert ContainerSummary.from_list({**doc, "Status": "Up (unhealthy)"}).health == "unhealthy"
    assert ContainerSummary.from_list({**doc, "Status": "Exited (0)"}).health == "none"
