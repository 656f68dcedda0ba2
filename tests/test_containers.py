"""Container lifecycle against the real engine; `docker inspect` is the truth.

Containers join a user-defined network of this module (the default bridge is not
guaranteed to work on a shared test engine), and busybox `sleep` as PID 1 ignores
SIGTERM, so stops use `timeout=0`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    RUN_ID,
    TEST_IMAGE,
    TEST_LABEL,
    docker,
    exists,
    free_port,
    inspect,
)
from tests.conftest import (
    test_labels as run_labels,
)

SLEEP = ["sleep", "300"]


@pytest.fixture(scope="module")
def net() -> Iterator[str]:
    name = f"mt-net-{uuid.uuid4().hex[:8]}"
    docker("network", "create", "--label", f"{TEST_LABEL}={RUN_ID}", name)
    yield name
    docker("network", "rm", name, check=False)


def body(net: str, **spec: Any) -> dict[str, Any]:
    labels = {**run_labels(), **spec.pop("labels", {})}
    return {"image": TEST_IMAGE, "network": net, "command": SLEEP, "labels": labels, **spec}


async def create(client: httpx.AsyncClient, net: str, **spec: Any) -> dict[str, Any]:
    r = await client.post("/v1/containers", json=body(net, **spec))
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


async def rm(client: httpx.AsyncClient, ref: str) -> None:
    r = await client.delete(f"/v1/containers/{ref}", params={"force": True, "volumes": True})
    assert r.status_code in (204, 404), r.text


def labelled(key: str, value: str) -> list[str]:
    return docker("ps", "-aq", "--filter", f"label={key}={value}").split()


async def test_ports_in_every_form(client: httpx.AsyncClient, net: str) -> None:
    p1, p2, p3 = free_port(), free_port(), free_port()
    as_map = await create(
        client,
        net,
        ports={
            "7001/tcp": p1,
            "7002/tcp": ["127.0.0.1", p2],
            "7003/tcp": ["127.0.0.1", None],
            "7004/tcp": None,
            "7005": None,
        },
    )
    as_list = await create(
        client, net, ports=[{"7001/udp": ["127.0.0.1", p3]}, {"7001/udp": ["127.0.0.1", None]}]
    )
    try:
        doc = inspect("container", as_map["id"])
        bindings = doc["HostConfig"]["PortBindings"]
        assert bindings["7001/tcp"] == [{"HostIp": "", "HostPort": str(p1)}]
        assert bindings["7002/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(p2)}]
        assert bindings["7003/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": ""}]
        assert bindings["7004/tcp"] == [{"HostIp": "", "HostPort": ""}]
        assert bindings["7005/tcp"] == [{"HostIp": "", "HostPort": ""}]
        assert set(doc["Config"]["ExposedPorts"]) == {f"700{i}/tcp" for i in range(1, 6)}
        live = doc["NetworkSettings"]["Ports"]
        assert live["7003/tcp"][0]["HostIp"] == "127.0.0.1"
        assert int(live["7003/tcp"][0]["HostPort"]) > 0  # a random port was given
        mine = {(p["container_port"], p["host_port"]) for p in as_map["ports"]}
        assert (7001, p1) in mine
        assert (7002, p2) in mine

        udp = inspect("container", as_list["id"])["HostConfig"]["PortBindings"]["7001/udp"]
        assert udp == [
            {"HostIp": "127.0.0.1", "HostPort": str(p3)},
            {"HostIp": "127.0.0.1", "HostPort": ""},
        ]
    finally:
        await rm(client, as_map["id"])
        await rm(client, as_list["id"])


async def test_mounts_volumes_and_tmpfs(
    client: httpx.AsyncClient, net: str, tmp_path: Path
) -> None:
    vol = f"mt-vol-{uuid.uuid4().hex[:8]}"
    docker("volume", "create", "--label", f"{TEST_LABEL}={RUN_ID}", vol)
    (tmp_path / "hello.txt").write_text("hi")
    c = await create(
        client,
        net,
        mounts=[
            {"type": "volume", "source": vol, "target": "/m-vol"},
            {"type": "bind", "source": str(tmp_path), "target": "/m-bind", "read_only": True},
            {"type": "tmpfs", "target": "/m-tmp"},
        ],
        volumes={vol: {"bind": "/v-dict", "mode": "ro"}},
        tmpfs={"/t-run": "size=1m"},
    )
    c2 = await create(client, net, volumes=[f"{tmp_path}:/v-list:ro", f"{vol}:/v-list2"])
    try:
        doc = inspect("container", c["id"])
        assert doc["HostConfig"]["Mounts"] == [
            {"Type": "volume", "Source": vol, "Target": "/m-vol"},
            {"Type": "bind", "Source": str(tmp_path), "Target": "/m-bind", "ReadOnly": True},
            {"Type": "tmpfs", "Target": "/m-tmp"},
        ]
        assert doc["HostConfig"]["Binds"] == [f"{vol}:/v-dict:ro"]
        assert doc["HostConfig"]["Tmpfs"] == {"/t-run": "size=1m"}
        by_dest = {m["Destination"]: m for m in doc["Mounts"]}
        assert by_dest["/m-bind"]["RW"] is False
        assert by_dest["/v-dict"]["Name"] == vol
        assert by_dest["/v-dict"]["RW"] is False
        assert {m["destination"] for m in c["mounts"]} >= {"/m-vol", "/m-bind", "/v-dict"}
        assert docker("exec", c["id"], "cat", "/m-bind/hello.txt") == "hi"

        binds = inspect("container", c2["id"])["HostConfig"]["Binds"]
        assert binds == [f"{tmp_path}:/v-list:ro", f"{vol}:/v-list2"]
    finally:
        await rm(client, c["id"])
        await rm(client, c2["id"])
        docker("volume", "rm", vol, check=False)


async def test_config_fields(client: httpx.AsyncClient, net: str, name: str) -> None:
    """command/env in both forms, entrypoint, user, dirs, init, tty, restart, aliases."""
    a = await create(
        client,
        net,
        name=name,
        command="sh -c 'sleep 300'",
        environment={"A": "1", "B": "x=y"},
        labels={"team": "web"},
        hostname="box",
        user="1000:1000",
        working_dir="/tmp",
        init=True,
        tty=True,
        network_aliases=["db", "cache"],
        restart_policy={"name": "on-failure", "maximum_retry_count": 3},
    )
    b = await create(
        client,
        net,
        start=False,
        command=["300"],
        entrypoint=["sleep"],
        environment=["C=3", "D=x=y"],
        auto_remove=True,
    )
    try:
        doc = inspect("container", a["id"])
        cfg, host = doc["Config"], doc["HostConfig"]
        assert doc["Name"] == f"/{name}"
        assert a["name"] == name
        assert cfg["Cmd"] == ["sh", "-c", "sleep 300"]
        assert {"A=1", "B=x=y"} <= set(cfg["Env"])
        assert cfg["Labels"] == {**run_labels(), "team": "web"}
        assert (cfg["Hostname"], cfg["User"], cfg["WorkingDir"], cfg["Tty"]) == (
            "box",
            "1000:1000",
            "/tmp",
            True,
        )
        assert host["Init"] is True
        assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
        assert host["NetworkMode"] == net
        assert {"db", "cache"} <= set(doc["NetworkSettings"]["Networks"][net]["Aliases"])
        assert a["status"] == "running"
        assert a["networks"][net]["ip_address"]

        doc_b = inspect("container", b["id"])
        assert doc_b["State"]["Status"] == "created"
        assert b["status"] == "created"
        assert doc_b["Config"]["Cmd"] == ["300"]
        assert doc_b["Config"]["Entrypoint"] == ["sleep"]
        assert {"C=3", "D=x=y"} <= set(doc_b["Config"]["Env"])
        assert doc_b["HostConfig"]["AutoRemove"] is True
    finally:
        await rm(client, a["id"])
        await rm(client, b["id"])


async def test_resources_and_memory_strings(client: httpx.AsyncClient, net: str) -> None:
    c = await create(
        client,
        net,
        resources={
            "cpus": 0.5,
            "memory": "64m",
            "memory_swap": "128m",
            "memory_reservation": "32m",
            "pids_limit": 64,
            "cpu_shares": 512,
            "cpuset_cpus": "0",
            "blkio_weight": 300,
            "ulimits": [{"name": "nofile", "soft": 1024, "hard": 2048}],
        },
    )
    try:
        host = inspect("container", c["id"])["HostConfig"]
        assert host["NanoCpus"] == 500_000_000
        assert host["Memory"] == 64 << 20
        assert host["MemorySwap"] == 128 << 20
        assert host["MemoryReservation"] == 32 << 20
        assert host["PidsLimit"] == 64
        assert host["CpuShares"] == 512
        assert host["CpusetCpus"] == "0"
        # Kernels without the blkio weight controller discard it: the caller is told.
        assert host["BlkioWeight"] == 300 or any("Block I/O" in w for w in c["warnings"])
        assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
        assert docker("exec", c["id"], "sh", "-c", "ulimit -n").strip() == "1024"
    finally:
        await rm(client, c["id"])


async def test_security_options(client: httpx.AsyncClient, net: str) -> None:
    c = await create(
        client,
        net,
        security={
            "privileged": False,
            "read_only": True,
            "cap_add": ["NET_ADMIN"],
            "cap_drop": ["MKNOD"],
            "security_opt": ["label=disable"],
            "no_new_privileges": True,
            "userns_mode": "host",
            "pid_mode": "host",
            "ipc_mode": "private",
            "devices": ["/dev/null:/dev/xnull:r"],
            "sysctls": {"net.ipv4.ip_forward": "1"},
        },
    )
    try:
        host = inspect("container", c["id"])["HostConfig"]
        assert host["Privileged"] is False
        assert host["ReadonlyRootfs"] is True
        assert host["CapAdd"] == ["NET_ADMIN"]
        assert host["CapDrop"] == ["MKNOD"]
        assert set(host["SecurityOpt"]) == {"label=disable", "no-new-privileges:true"}
        assert (host["UsernsMode"], host["PidMode"], host["IpcMode"]) == (
            "host",
            "host",
            "private",
        )
        assert host["Devices"] == [
            {"PathOnHost": "/dev/null", "PathInContainer": "/dev/xnull", "CgroupPermissions": "r"}
        ]
        assert host["Sysctls"] == {"net.ipv4.ip_forward": "1"}
        assert c["status"] == "running"
        # read-only root: the write fails inside the container
        out = docker("exec", c["id"], "sh", "-c", "touch /x 2>&1; echo rc=$?", check=False)
        assert "rc=1" in out
    finally:
        await rm(client, c["id"])


async def test_healthcheck_seconds_become_ns(client: httpx.AsyncClient, net: str) -> None:
    c = await create(
        client,
        net,
        healthcheck={
            "test": ["true"],
            "interval": 1.5,
            "timeout": 0.5,
            "retries": 2,
            "start_period": 0.25,
        },
    )
    try:
        hc = inspect("container", c["id"])["Config"]["Healthcheck"]
        assert hc == {
            "Test": ["CMD", "true"],
            "Interval": 1_500_000_000,
            "Timeout": 500_000_000,
            "StartPeriod": 250_000_000,
            "Retries": 2,
        }
        assert c["health"] in ("starting", "healthy")
    finally:
        await rm(client, c["id"])


async def test_pull_modes(client: httpx.AsyncClient, net: str) -> None:
    mark = uuid.uuid4().hex[:8]
    for mode in ("never", "missing"):
        c = await create(client, net, pull=mode, start=False)
        assert c["image"] == TEST_IMAGE
        await rm(client, c["id"])

    absent = "127.0.0.1:5999/moorage-absent:1"
    cases = [
        ({"image": absent, "pull": "never"}, 404, "image-not-found"),
        ({"image": absent, "pull": "missing"}, 502, "registry-unreachable"),
        ({"image": absent, "pull": "always"}, 502, "registry-unreachable"),
        # always: even a local image is pulled again, and the pull fails here
        ({"pull": "always"}, 502, "registry-unreachable"),
    ]
    for spec, status, code in cases:
        r = await client.post("/v1/containers", json=body(net, labels={"mt.pull": mark}, **spec))
        assert r.status_code == status, r.text
        problem = r.json()
        assert r.headers["content-type"].startswith("application/problem+json")
        assert problem["code"] == code
        if spec.get("image") == absent:
            assert absent in problem["detail"]
        if status == 502:
            assert "Pulling" in problem["detail"]
    assert labelled("mt.pull", mark) == []


async def test_create_is_atomic(client: httpx.AsyncClient, net: str, name: str) -> None:
    mark = uuid.uuid4().hex[:8]
    r = await client.post(
        "/v1/containers",
        json=body(net, name=name, command=["no-such-binary"], labels={"mt.atomic": mark}),
    )
    assert r.status_code == 400, r.text
    assert "no-such-binary" in r.json()["detail"]
    assert not exists("container", name)

    port = free_port()
    holder = await create(client, net, ports={"80": ["127.0.0.1", port]})
    try:
        r = await client.post(
            "/v1/containers",
            json=body(net, ports={"80": ["127.0.0.1", port]}, labels={"mt.atomic": mark}),
        )
        assert r.status_code == 409, r.text
        assert "already allocated" in r.json()["detail"]

        # the name of an existing container: refused at create, nothing new made
        r = await client.post(
            "/v1/containers",
            json=body(net, name=holder["name"], labels={"mt.atomic": mark}),
        )
        assert r.status_code == 409
        assert r.json()["code"] == "name-in-use"
    finally:
        await rm(client, holder["id"])
    assert labelled("mt.atomic", mark) == []


async def test_run_to_completion(client: httpx.AsyncClient, net: str) -> None:
    mark = uuid.uuid4().hex[:8]
    script = "echo out; echo more; echo err >&2; exit 0"
    r = await client.post(
        "/v1/containers/run",
        json=body(net, command=["sh", "-c", script], labels={"mt.run": mark}, timeout=60),
    )
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["exit_code"] == 0
    assert res["stdout"] == "out\nmore\n"
    assert res["stderr"] == "err\n"
    assert res["duration_s"] >= 0
    assert not exists("container", res["container_id"])  # remove defaults to true

    # with a TTY there is one stream: everything is stdout
    r = await client.post(
        "/v1/containers/run",
        json=body(net, command=["sh", "-c", "echo tty >&2"], tty=True, labels={"mt.run": mark}),
    )
    assert r.status_code == 200, r.text
    assert r.json()["stdout"].strip() == "tty"
    assert r.json()["stderr"] == ""

    # remove=false keeps it; a non-zero exit without check is just reported
    r = await client.post(
        "/v1/containers/run",
        json=body(net, command=["sh", "-c", "exit 3"], labels={"mt.run": mark}, remove=False),
    )
    assert r.status_code == 200, r.text
    kept = r.json()
    assert kept["exit_code"] == 3
    assert inspect("container", kept["container_id"])["State"]["ExitCode"] == 3
    await rm(client, kept["container_id"])

    # check=true and a non-zero exit: 422 container-error with exit_status and stderr
    r = await client.post(
        "/v1/containers/run",
        json=body(
            net,
            command=["sh", "-c", "echo boom >&2; exit 7"],
            labels={"mt.run": mark},
            check=True,
        ),
    )
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "container-error"
    assert problem["exit_status"] == 7
    assert problem["stderr"] == "boom\n"
    assert labelled("mt.run", mark) == []

    # a timeout leaves the container as it is (running), and says so
    r = await client.post(
        "/v1/containers/run", json=body(net, labels={"mt.run": mark}, timeout=0.5)
    )
    assert r.status_code == 504, r.text
    problem = r.json()
    assert problem["code"] == "timeout"
    assert "left" in problem["detail"]
    cid = problem["container_id"]
    assert inspect("container", cid)["State"]["Running"] is True
    await rm(client, cid)


async def test_lifecycle(client: httpx.AsyncClient, net: str) -> None:
    c = await create(client, net)
    cid = c["id"]
    path = f"/v1/containers/{c['short_id']}"
    try:
        r = await client.post(f"{path}/start")  # already running: not an error
        assert r.status_code == 200
        assert r.json()["status"] == "running"

        r = await client.post(f"{path}/pause")
        assert r.json()["status"] == "paused"
        assert inspect("container", cid)["State"]["Paused"] is True
        r = await client.post(f"{path}/unpause")
        assert r.json()["status"] == "running"

        r = await client.delete(path)  # running, no force
        assert r.status_code == 409
        assert r.json()["code"] == "container-running"

        r = await client.post(f"{path}/stop", params={"timeout": 0})
        assert r.status_code == 200
        stopped = r.json()
        assert stopped["status"] == "exited"
        assert stopped["exit_code"] == 137
        assert stopped["finished_at"]
        r = await client.post(f"{path}/stop", params={"timeout": 0})  # already stopped
        assert r.status_code == 200

        r = await client.post(f"{path}/kill")
        assert r.status_code == 409
        assert r.json()["code"] == "container-not-running"

        r = await client.post(f"{path}/start")
        assert r.json()["status"] == "running"
        r = await client.post(f"{path}/restart", params={"timeout": 0})
        assert r.status_code == 200
        assert r.json()["status"] == "running"
        assert inspect("container", cid)["State"]["Running"] is True

        r = await client.post(f"{path}/kill", params={"signal": "SIGKILL"})
        assert r.status_code == 200
        r = await client.post(f"{path}/wait", params={"timeout": 30})
        assert r.status_code == 200
        assert r.json() == {"status_code": 137, "error": None}

        got = (await client.get(f"/v1/containers/{c['name']}")).json()
        assert got["id"] == cid
        assert got["attrs"]["Id"] == cid
        assert got["exit_code"] == 137

        r = await client.delete(path)
        assert r.status_code == 204
        assert not exists("container", cid)
        r = await client.get(path)
        assert r.status_code == 404
        assert r.json()["code"] == "container-not-found"
        r = await client.post(f"{path}/start")
        assert r.json()["code"] == "container-not-found"
    finally:
        await rm(client, cid)


async def test_start_failure_of_an_existing_container(client: httpx.AsyncClient, net: str) -> None:
    """Only create rolls back: a plain start that fails leaves the container stopped."""
    port = free_port()
    c = await create(client, net, ports={"80": ["127.0.0.1", port]}, start=False)
    holder = await create(client, net, ports={"80": ["127.0.0.1", port]})
    try:
        r = await client.post(f"/v1/containers/{c['id']}/start")
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "conflict"
        assert "already allocated" in r.json()["detail"]
        assert inspect("container", c["id"])["State"]["Running"] is False
    finally:
        await rm(client, c["id"])
        await rm(client, holder["id"])


async def test_wait_timeout_leaves_it_running(client: httpx.AsyncClient, net: str) -> None:
    c = await create(client, net)
    try:
        r = await client.post(f"/v1/containers/{c['id']}/wait", params={"timeout": 0.3})
        assert r.status_code == 504
        assert r.json()["code"] == "timeout"
        assert "still running" in r.json()["detail"]
        assert inspect("container", c["id"])["State"]["Running"] is True
    finally:
        await rm(client, c["id"])


async def test_patch_rename_and_update(client: httpx.AsyncClient, net: str, name: str) -> None:
    c = await create(client, net, resources={"memory": "64m"})
    before = inspect("container", c["id"])["HostConfig"]
    try:
        r = await client.patch(
            f"/v1/containers/{c['id']}",
            json={
                "name": name,
                "resources": {"memory": "128m", "pids_limit": 50},
                "restart_policy": {"name": "unless-stopped"},
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["name"] == name
        doc = inspect("container", name)
        assert doc["Id"] == c["id"]
        assert doc["HostConfig"]["Memory"] == 128 << 20
        assert doc["HostConfig"]["PidsLimit"] == 50
        assert doc["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        assert doc["State"]["Running"] is True  # live update
        # memory alone: the swap allowance the container had is kept
        swap = before["MemorySwap"] - before["Memory"]
        assert doc["HostConfig"]["MemorySwap"] - doc["HostConfig"]["Memory"] == swap

        # a container created without limits gets one live
        free = await create(client, net)
        r = await client.patch(
            f"/v1/containers/{free['id']}", json={"resources": {"memory": "48m"}}
        )
        assert r.status_code == 200, r.text
        assert inspect("container", free["id"])["HostConfig"]["Memory"] == 48 << 20
        await rm(client, free["id"])

        # a limit the engine cannot apply is the request's fault
        r = await client.patch(
            f"/v1/containers/{name}",
            json={"name": f"{name}-x", "resources": {"cpuset_cpus": "999"}},
        )
        assert r.status_code == 400, r.text
        assert inspect("container", name)["HostConfig"]["CpusetCpus"] == ""  # and not renamed

        other = await create(client, net, name=f"{name}-2", start=False)
        r = await client.patch(f"/v1/containers/{name}", json={"name": other["name"]})
        assert r.status_code == 409
        assert r.json()["code"] == "name-in-use"
        await rm(client, other["id"])
    finally:
        await rm(client, c["id"])


async def test_list_filters_and_prune(client: httpx.AsyncClient, net: str, name: str) -> None:
    mark = uuid.uuid4().hex[:8]
    lab = {"mt.list": mark}
    running = await create(client, net, name=name, labels=lab)
    done = await create(client, net, command=["true"], labels=lab, start=False)
    r = await client.post(f"/v1/containers/{done['id']}/start")
    assert r.status_code == 200
    r = await client.post(f"/v1/containers/{done['id']}/wait", params={"timeout": 30})
    assert r.json()["status_code"] == 0
    try:

        async def ids(**params: Any) -> set[str]:
            r = await client.get("/v1/containers", params={"label": f"mt.list={mark}", **params})
            assert r.status_code == 200, r.text
            return {s["id"] for s in r.json()}

        assert await ids() == {running["id"]}
        assert await ids(all=True) == {running["id"], done["id"]}
        assert await ids(status="exited") == {done["id"]}
        assert await ids(all=True, name=name) == {running["id"]}
        assert await ids(all=True, ancestor=TEST_IMAGE) == {running["id"], done["id"]}
        assert await ids(network=net) == {running["id"]}
        assert await ids(health="none") == {running["id"]}
        assert await ids(health="healthy") == set()
        summary = (await client.get("/v1/containers", params={"name": name})).json()[0]
        assert summary["state"] == "running"
        assert summary["name"] == name
        assert summary["labels"]["mt.list"] == mark
        assert summary["health"] == "none"

        r = await client.post(
            "/v1/containers/prune", json={"filters": {"label": [f"mt.list={mark}"]}}
        )
        assert r.status_code == 200, r.text
        assert r.json()["deleted"] == [done["id"]]
        assert not exists("container", done["id"])
        assert exists("container", running["id"])
    finally:
        await rm(client, running["id"])
        await rm(client, done["id"])


async def test_auto_remove_quick_exit(client: httpx.AsyncClient, net: str) -> None:
    r = await client.post("/v1/containers", json=body(net, command=["true"], auto_remove=True))
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["status"] in ("running", "exited", "removing", "removed")
    r = await client.post(f"/v1/containers/{c['id']}/wait", params={"condition": "removed"})
    assert r.status_code in (200, 404)
    assert not exists("container", c["id"])


async def test_reads_see_own_writes_and_fresh_asks_the_engine(
    client: httpx.AsyncClient, name: str, image: str
) -> None:
    """Lists and reads come from moorage's state; a change shows at once (read-your-writes)."""
    mark = {"label": f"{TEST_LABEL}={RUN_ID}", "label2": f"mt.ryw={name}"}
    labels = {TEST_LABEL: RUN_ID, "mt.ryw": name}
    query = {"all": "true", "label": [mark["label"], mark["label2"]]}
    r = await client.post(
        "/v1/containers",
        json={"image": image, "name": name, "command": ["sleep", "60"], "labels": labels,
              "network": "none"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    for fresh in ("false", "true"):
        listed = (await client.get("/v1/containers", params={**query, "fresh": fresh})).json()
        assert [c["id"] for c in listed] == [cid]
        assert listed[0]["state"] == "running"
    stopped = await client.post(f"/v1/containers/{cid}/stop", params={"timeout": 0})
    assert stopped.status_code == 200
    listed = (await client.get("/v1/containers", params=query)).json()
    assert listed[0]["state"] == "exited"
    got = (await client.get(f"/v1/containers/{name}")).json()
    assert got["status"] == "exited"
    assert (await client.get(f"/v1/containers/{name}", params={"fresh": "true"})).json()[
        "status"
    ] == "exited"
    assert (await client.delete(f"/v1/containers/{cid}")).status_code == 204
    assert (await client.get("/v1/containers", params=query)).json() == []
    assert (await client.get(f"/v1/containers/{cid}")).status_code == 404
