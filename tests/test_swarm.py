"""Swarm on a real two-node swarm (scripts/swarm-up.sh): the cluster, nodes, services,
tasks, secrets and configs, through moorage pointed at the manager's engine."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.conftest import SWARM_IMAGE_V2, TEST_IMAGE, SwarmNodes, docker, in_process

pytestmark = pytest.mark.slow

LOOP = ["sh", "-c", "while true; do sleep 1; done"]


@pytest.fixture(scope="module")
async def sw(swarm_nodes: SwarmNodes) -> AsyncIterator[httpx.AsyncClient]:
    """moorage on the swarm's manager."""
    async with in_process(Settings(docker_host=swarm_nodes.manager, audit_db=":memory:")) as (
        _,
        c,
    ):
        yield c


def problem(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["code"] == code, r.text


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


async def until(check: Callable[[], Awaitable[Any]], what: str, limit: float = 60) -> Any:
    """Poll until `check` gives something true (a swarm converges in its own time)."""
    deadline = asyncio.get_running_loop().time() + limit
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what}: not reached in {limit} s (last: {last!r})")


async def create(c: httpx.AsyncClient, **spec: Any) -> dict[str, Any]:
    body = {"image": TEST_IMAGE, "args": LOOP, "endpoint_mode": "dnsrr", **spec}
    r = await c.post("/v1/services", json=body)
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


async def running(c: httpx.AsyncClient, service: str, n: int) -> list[dict[str, Any]]:
    """Wait until exactly `n` tasks of the service run (and no others are meant to)."""

    async def check() -> list[dict[str, Any]] | None:
        r = await c.get("/v1/tasks", params={"service": service, "desired_state": "running"})
        assert r.status_code == 200, r.text
        tasks = r.json()
        ok = len(tasks) == n and all(t["state"] == "running" for t in tasks)
        return tasks if ok else None

    tasks: list[dict[str, Any]] = await until(check, f"{n} running tasks of {service}")
    return tasks


async def remove(c: httpx.AsyncClient, service: str) -> None:
    r = await c.delete(f"/v1/services/{service}")
    assert r.status_code in (204, 404), r.text


# -- the cluster and its nodes ---------------------------------------------------------


async def test_swarm_and_nodes(sw: httpx.AsyncClient) -> None:
    r = await sw.get("/v1/swarm")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["local_node_state"] == "active"
    assert doc["control_available"] is True
    assert doc["cluster_id"]
    assert doc["nodes"] == 2
    assert doc["managers"] == 1
    assert "JoinTokens" not in doc["attrs"]  # tokens only through the admin route
    nodes = (await sw.get("/v1/nodes")).json()
    assert sorted(n["hostname"] for n in nodes) == ["swarm-manager", "swarm-worker"]
    leader = next(n for n in nodes if n["leader"])
    assert leader["role"] == "manager"
    assert leader["state"] == "ready"
    assert leader["addr"] == "10.77.0.1"
    one = await sw.get("/v1/nodes/swarm-worker")
    assert one.status_code == 200
    assert one.json()["role"] == "worker"
    assert one.json()["availability"] == "active"
    tokens = (await sw.get("/v1/swarm/join-tokens")).json()
    assert tokens["worker"].startswith("SWMTKN-")
    assert tokens["manager"].startswith("SWMTKN-")


async def test_node_labels_and_missing(sw: httpx.AsyncClient, swarm_nodes: SwarmNodes) -> None:
    r = await sw.patch("/v1/nodes/swarm-worker", json={"labels": {"zone": "b"}})
    assert r.status_code == 200, r.text
    assert r.json()["labels"] == {"zone": "b"}
    engine = json.loads(swarm_nodes.docker("manager", "node", "inspect", "swarm-worker"))[0]
    assert engine["Spec"]["Labels"] == {"zone": "b"}
    assert engine["Spec"]["Availability"] == "active"  # the rest of the spec kept
    listed = (await sw.get("/v1/nodes", params={"label": "zone=b"})).json()
    assert [n["hostname"] for n in listed] == ["swarm-worker"]
    assert (await sw.patch("/v1/nodes/swarm-worker", json={"labels": {}})).status_code == 200
    r = await sw.patch("/v1/nodes/swarm-worker", json={"availability": "asleep"})
    assert r.status_code == 422
    for path, code in (
        ("/v1/nodes/nope", "node-not-found"),
        ("/v1/services/nope", "service-not-found"),
        ("/v1/tasks/nope", "task-not-found"),
        ("/v1/secrets/nope", "secret-not-found"),
        ("/v1/configs/nope", "config-not-found"),
    ):
        r = await sw.get(path)
        problem(r, 404, code)


async def test_not_a_swarm_manager(swarm_nodes: SwarmNodes) -> None:
    """A worker, and an engine outside any swarm: 409 not-a-swarm-manager; GET /v1/swarm
    answers both with their local state."""
    async with in_process(Settings(docker_host=swarm_nodes.worker)) as (_, c):
        r = await c.get("/v1/services")
        problem(r, 409, "not-a-swarm-manager")
        doc = (await c.get("/v1/swarm")).json()
        assert doc["local_node_state"] == "active"
        assert doc["control_available"] is False
        assert doc["cluster_id"] is None or doc["attrs"] == {}
        r = await c.post("/v1/services", json={"image": TEST_IMAGE})
        assert r.status_code == 409
        assert r.json()["code"] == "not-a-swarm-manager"
    shared = Settings()
    if docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip() == "inactive":
        async with in_process(shared) as (_, c):
            assert (await c.get("/v1/swarm")).json()["local_node_state"] == "inactive"
            for path in ("/v1/nodes", "/v1/tasks", "/v1/secrets", "/v1/swarm/join-tokens"):
                r = await c.get(path)
                assert r.status_code == 409
                assert r.json()["code"] == "not-a-swarm-manager"


# -- services ------------------------------------------------------------------------------


async def test_replicas_spread_and_scale(sw: httpx.AsyncClient, swarm_nodes: SwarmNodes) -> None:
    name = unique("spread")
    made = await create(sw, name=name, replicas=2, labels={"app": "spread"})
    try:
        assert made["name"] == name
        assert made["replicas"]["desired"] == 2
        tasks = await running(sw, name, 2)
        await sw.post(f"/v1/services/{name}/scale", json={"replicas": 4})
        tasks = await running(sw, name, 4)
        nodes = {n["id"]: n["hostname"] for n in (await sw.get("/v1/nodes")).json()}
        assert {nodes[t["node_id"]] for t in tasks} == {"swarm-manager", "swarm-worker"}
        assert sorted(t["slot"] for t in tasks) == [1, 2, 3, 4]
        for t in tasks:  # each task's container is on its node's engine
            node = "manager" if nodes[t["node_id"]] == "swarm-manager" else "worker"
            out = swarm_nodes.docker(node, "inspect", "-f", "{{.Id}}", t["container_id"])
            assert out.strip() == t["container_id"]
        listed = (await sw.get("/v1/services", params={"label": "app=spread"})).json()
        assert [s["name"] for s in listed] == [name]
        assert listed[0]["replicas"] == {"running": 4, "desired": 4}
        assert listed[0]["state"] == "running"
        r = await sw.post(f"/v1/services/{name}/scale", json={"replicas": 1})
        assert r.status_code == 200
        assert r.json()["spec"]["replicas"] == 1
        await running(sw, name, 1)
        got = (await sw.get(f"/v1/services/{name}")).json()
        assert got["replicas"] == {"running": 1, "desired": 1}
        assert got["spec"]["labels"] == {"app": "spread"}  # scale changed nothing else
    finally:
        await remove(sw, name)
    assert swarm_nodes.docker("manager", "service", "ls", "-q", "--filter", f"name={name}") == ""


async def test_spec_translation_on_the_engine(
    sw: httpx.AsyncClient, swarm_nodes: SwarmNodes
) -> None:
    """Seconds, `512m`, cpus and names reach the engine in its own units."""
    name = unique("units")
    net = unique("ov")
    swarm_nodes.docker("manager", "network", "create", "-d", "overlay", net)
    try:
        made = await create(
            sw,
            name=name,
            replicas=1,
            environment={"MODE": "test"},
            container_labels={"team": "a"},
            resources={
                "limits": {"cpus": 0.5, "memory": "64m"},
                "reservations": {"memory": 8 << 20},
            },
            stop_grace_period=2.5,
            restart_policy={"condition": "on-failure", "delay": 1.5, "max_attempts": 3},
            update_config={
                "parallelism": 2,
                "delay": 0.5,
                "failure_action": "rollback",
                "monitor": 3,
            },
            healthcheck={"test": "true", "interval": 2, "timeout": 1, "retries": 2},
            networks=[{"target": net, "aliases": ["web"]}],
            constraints=["node.role==manager"],
            ports=[{"target": 80, "published": 18080, "mode": "host"}],
            user="0",
            workdir="/",
            hostname="units",
        )
        spec = json.loads(swarm_nodes.docker("manager", "service", "inspect", name))[0]["Spec"]
        task, c = spec["TaskTemplate"], spec["TaskTemplate"]["ContainerSpec"]
        assert c["StopGracePeriod"] == 2_500_000_000
        assert task["Resources"]["Limits"] == {"NanoCPUs": 500_000_000, "MemoryBytes": 64 << 20}
        assert task["Resources"]["Reservations"] == {"MemoryBytes": 8 << 20}
        assert task["RestartPolicy"] == {
            "Condition": "on-failure",
            "Delay": 1_500_000_000,
            "MaxAttempts": 3,
        }
        assert spec["UpdateConfig"]["Delay"] == 500_000_000
        assert spec["UpdateConfig"]["Monitor"] == 3_000_000_000
        assert c["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
        assert c["Healthcheck"]["Interval"] == 2_000_000_000
        assert c["Env"] == ["MODE=test"]
        assert c["Labels"] == {"team": "a"}
        assert task["Placement"]["Constraints"] == ["node.role==manager"]
        assert spec["EndpointSpec"]["Ports"][0]["PublishMode"] == "host"
        # Read back in moorage's names: the spec as sent.
        mine = made["spec"]
        assert mine["stop_grace_period"] == 2.5
        assert mine["resources"]["limits"] == {"cpus": 0.5, "memory": 64 << 20}
        assert mine["restart_policy"]["delay"] == 1.5
        assert mine["networks"] == [{"target": net, "aliases": ["web"]}]
        assert mine["healthcheck"]["interval"] == 2
        tasks = await running(sw, name, 1)
        nodes = {n["id"]: n["hostname"] for n in (await sw.get("/v1/nodes")).json()}
        assert nodes[tasks[0]["node_id"]] == "swarm-manager"  # the constraint held
    finally:
        await remove(sw, name)
        await until(
            lambda: asyncio.to_thread(
                lambda: swarm_nodes.docker("manager", "network", "rm", net, check=False) != ""
            ),
            "the overlay network removed",
        )


async def test_patch_one_field_keeps_the_rest(
    sw: httpx.AsyncClient, swarm_nodes: SwarmNodes
) -> None:
    """A PATCH never needs the spec back; concurrent PATCHes of different fields all land
    (moorage reads the version and retries when another writer came first)."""
    name = unique("patch")
    await create(sw, name=name, replicas=1, environment={"A": "1"}, labels={"keep": "me"})
    try:
        r = await sw.patch(f"/v1/services/{name}", json={"hostname": "h1"})
        assert r.status_code == 200, r.text
        spec = r.json()["spec"]
        assert spec["hostname"] == "h1"
        assert spec["environment"] == {"A": "1"}
        assert spec["labels"] == {"keep": "me"}
        assert spec["args"] == LOOP
        changes = [
            {"user": "0"},
            {"workdir": "/bin"},
            {"stop_grace_period": 3},
            {"container_labels": {"x": "1"}},
            {"stop_signal": "SIGINT"},
        ]
        results = await asyncio.gather(
            *(sw.patch(f"/v1/services/{name}", json=ch) for ch in changes)
        )
        assert [r.status_code for r in results] == [200] * len(changes), [
            r.text for r in results if r.status_code != 200
        ]
        spec = (await sw.get(f"/v1/services/{name}")).json()["spec"]
        assert spec["user"] == "0"
        assert spec["workdir"] == "/bin"
        assert spec["stop_grace_period"] == 3
        assert spec["container_labels"] == {"x": "1"}
        assert spec["stop_signal"] == "SIGINT"
        assert spec["hostname"] == "h1"
        assert spec["environment"] == {"A": "1"}
        r = await sw.patch(f"/v1/services/{name}", json={"hostnme": "typo"})
        assert r.status_code == 422
        assert "hostnme" in r.text
        r = await sw.patch(f"/v1/services/{name}", json={"hostname": None})
        assert r.status_code == 200
        assert r.json()["spec"]["hostname"] is None
    finally:
        await remove(sw, name)


async def test_update_image_then_rollback(sw: httpx.AsyncClient) -> None:
    name = unique("roll")
    await create(sw, name=name, replicas=2, update_config={"parallelism": 2, "delay": 0})
    try:
        await running(sw, name, 2)
        r = await sw.patch(f"/v1/services/{name}", json={"image": SWARM_IMAGE_V2})
        assert r.status_code == 200, r.text
        assert r.json()["image"] == SWARM_IMAGE_V2
        assert r.json()["previous_spec"]["image"] == TEST_IMAGE

        async def on_image(image: str) -> bool:
            tasks = await running(sw, name, 2)
            return all(t["image"] == image for t in tasks)

        await until(lambda: on_image(SWARM_IMAGE_V2), "tasks on the new image")
        r = await sw.post(f"/v1/services/{name}/rollback")
        assert r.status_code == 200, r.text
        assert r.json()["image"] == TEST_IMAGE
        await until(lambda: on_image(TEST_IMAGE), "tasks back on the old image")

        async def rolled_back() -> bool:
            status = (await sw.get(f"/v1/services/{name}")).json()["update_status"]
            return bool(status) and status["state"] == "rollback_completed"

        await until(rolled_back, "update_status rollback_completed")
    finally:
        await remove(sw, name)


async def test_rollback_without_previous_spec_is_409(sw: httpx.AsyncClient) -> None:
    name = unique("noprev")
    await create(sw, name=name, replicas=0)
    try:
        r = await sw.post(f"/v1/services/{name}/rollback")
        problem(r, 409, "conflict")
        got = (await sw.get(f"/v1/services/{name}")).json()
        assert got["state"] == "stopped"
        assert got["replicas"] == {"running": 0, "desired": 0}
    finally:
        await remove(sw, name)


async def test_redeploy_replaces_every_task(sw: httpx.AsyncClient) -> None:
    name = unique("redeploy")
    await create(sw, name=name, replicas=2, update_config={"parallelism": 2, "delay": 0})
    try:
        before = {t["id"] for t in await running(sw, name, 2)}
        r = await sw.post(f"/v1/services/{name}/redeploy")
        assert r.status_code == 200, r.text
        assert r.json()["attrs"]["Spec"]["TaskTemplate"]["ForceUpdate"] == 1

        async def replaced() -> bool:
            now = {t["id"] for t in await running(sw, name, 2)}
            return not (now & before)

        await until(replaced, "every task replaced")
    finally:
        await remove(sw, name)


async def test_create_with_missing_image_says_rejected(sw: httpx.AsyncClient) -> None:
    name = unique("rejected")
    r = await sw.post(
        "/v1/services",
        json={"name": name, "image": "moorage-test/no-such-image:1", "replicas": 2},
    )
    assert r.status_code == 201, r.text  # the engine accepts it; its tasks cannot run
    try:

        async def rejected() -> dict[str, Any] | None:
            doc: dict[str, Any] = (await sw.get(f"/v1/services/{name}")).json()
            return doc if doc["state"] == "rejected" else None

        doc = await until(rejected, "state rejected")
        assert doc["replicas"]["running"] == 0
        assert doc["state_message"]
        tasks = (await sw.get("/v1/tasks", params={"service": name})).json()
        assert any(t["state"] == "rejected" and t["error"] for t in tasks)
        listed = (await sw.get("/v1/services", params={"name": name})).json()
        assert listed[0]["state"] == "rejected"
    finally:
        await remove(sw, name)


async def test_rejected_update_rolls_back(sw: httpx.AsyncClient) -> None:
    """`failure_action: rollback`: an update whose tasks cannot start returns by itself."""
    name = unique("autoroll")
    await create(
        sw,
        name=name,
        replicas=2,
        update_config={"parallelism": 1, "failure_action": "rollback", "monitor": 2},
        rollback_config={"parallelism": 2, "monitor": 1},
    )
    try:
        await running(sw, name, 2)
        r = await sw.patch(f"/v1/services/{name}", json={"image": "moorage-test/no-such-image:2"})
        assert r.status_code == 200, r.text

        async def rolled_back() -> dict[str, Any] | None:
            doc: dict[str, Any] = (await sw.get(f"/v1/services/{name}")).json()
            status = doc["update_status"] or {}
            return doc if status.get("state") == "rollback_completed" else None

        doc = await until(rolled_back, "the automatic rollback", limit=90)
        assert doc["image"] == TEST_IMAGE
        tasks = await running(sw, name, 2)
        assert all(t["image"] == TEST_IMAGE for t in tasks)
    finally:
        await remove(sw, name)


async def test_drain_moves_tasks(sw: httpx.AsyncClient) -> None:
    name = unique("drain")
    await create(sw, name=name, replicas=4)
    nodes = {n["hostname"]: n["id"] for n in (await sw.get("/v1/nodes")).json()}
    try:
        tasks = await running(sw, name, 4)
        assert {t["node_id"] for t in tasks} == set(nodes.values())
        r = await sw.patch("/v1/nodes/swarm-worker", json={"availability": "drain"})
        assert r.status_code == 200
        assert r.json()["availability"] == "drain"

        async def moved() -> bool:
            tasks = await running(sw, name, 4)
            return all(t["node_id"] == nodes["swarm-manager"] for t in tasks)

        await until(moved, "every task on the manager")
        on_worker = (
            await sw.get("/v1/tasks", params={"node": "swarm-worker", "service": name})
        ).json()
        assert on_worker
        assert all(t["desired_state"] == "shutdown" for t in on_worker)
    finally:
        r = await sw.patch("/v1/nodes/swarm-worker", json={"availability": "active"})
        assert r.status_code == 200, r.text
        await remove(sw, name)


async def test_global_service(sw: httpx.AsyncClient) -> None:
    name = unique("global")
    made = await create(sw, name=name, mode="global")
    try:
        assert made["mode"] == "global"
        await running(sw, name, 2)  # one per node
        got = (await sw.get(f"/v1/services/{name}")).json()
        assert got["replicas"] == {"running": 2, "desired": 2}
        r = await sw.post(f"/v1/services/{name}/scale", json={"replicas": 3})
        assert r.status_code == 409, r.text
        r = await sw.post(
            "/v1/services", json={"image": TEST_IMAGE, "mode": "global", "replicas": 2}
        )
        assert r.status_code == 422
    finally:
        await remove(sw, name)


async def test_name_in_use(sw: httpx.AsyncClient) -> None:
    name = unique("dup")
    await create(sw, name=name, replicas=0)
    try:
        r = await sw.post("/v1/services", json={"name": name, "image": TEST_IMAGE})
        problem(r, 409, "name-in-use")
    finally:
        await remove(sw, name)


# -- secrets and configs ------------------------------------------------------------------


async def test_secret_mounted_in_a_task(sw: httpx.AsyncClient, swarm_nodes: SwarmNodes) -> None:
    secret, name = unique("pw"), unique("withsecret")
    value = b"hunter2-" + uuid.uuid4().hex.encode()
    r = await sw.post(
        "/v1/secrets",
        json={"name": secret, "data": base64.b64encode(value).decode(), "labels": {"t": "1"}},
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert "data" not in made
    assert made["name"] == secret
    assert "data" not in (await sw.get(f"/v1/secrets/{secret}")).json()
    assert secret in [s["name"] for s in (await sw.get("/v1/secrets")).json()]
    try:
        await create(
            sw,
            name=name,
            replicas=1,
            secrets=[{"name": secret, "target": "db_password", "mode": 0o400}],
        )
        task = (await running(sw, name, 1))[0]
        nodes = {n["id"]: n["hostname"] for n in (await sw.get("/v1/nodes")).json()}
        node = "manager" if nodes[task["node_id"]] == "swarm-manager" else "worker"
        out = swarm_nodes.docker(
            node, "exec", task["container_id"], "cat", "/run/secrets/db_password"
        )
        assert out.encode() == value
        spec = (await sw.get(f"/v1/services/{name}")).json()["spec"]
        assert spec["secrets"][0]["name"] == secret
        assert spec["secrets"][0]["mode"] == 0o400
        r = await sw.delete(f"/v1/secrets/{secret}")
        problem(r, 409, "in-use")
    finally:
        await remove(sw, name)
    r = await sw.delete(f"/v1/secrets/{secret}")
    assert r.status_code == 204, r.text
    assert (await sw.get(f"/v1/secrets/{secret}")).json()["code"] == "secret-not-found"


async def test_configs_and_bad_references(sw: httpx.AsyncClient, swarm_nodes: SwarmNodes) -> None:
    config, name = unique("conf"), unique("withconfig")
    r = await sw.post(
        "/v1/configs", json={"name": config, "data": base64.b64encode(b"a=1\n").decode()}
    )
    assert r.status_code == 201, r.text
    assert r.json()["data"] == base64.b64encode(b"a=1\n").decode()
    try:
        await create(sw, name=name, replicas=1, configs=[{"name": config, "target": "/app.conf"}])
        task = (await running(sw, name, 1))[0]
        nodes = {n["id"]: n["hostname"] for n in (await sw.get("/v1/nodes")).json()}
        node = "manager" if nodes[task["node_id"]] == "swarm-manager" else "worker"
        assert swarm_nodes.docker(node, "exec", task["container_id"], "cat", "/app.conf") == "a=1\n"
    finally:
        await remove(sw, name)
    assert (await sw.delete(f"/v1/configs/{config}")).status_code == 204
    # A reference to a secret that does not exist: 422 naming it, nothing created.
    ghost = unique("ghost")
    r = await sw.post(
        "/v1/services",
        json={"name": ghost, "image": TEST_IMAGE, "secrets": [{"name": "no-such-secret"}]},
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "secrets", 0, "name"]
    assert swarm_nodes.docker("manager", "service", "ls", "-q", "--filter", f"name={ghost}") == ""
    r = await sw.post("/v1/secrets", json={"name": unique("bad"), "data": "not base64!"})
    assert r.status_code == 422


async def test_secret_data_not_in_the_audit_log(swarm_nodes: SwarmNodes) -> None:
    settings = Settings(docker_host=swarm_nodes.manager, audit_db=":memory:")
    async with in_process(settings) as (_app, c):
        secret = unique("audited")
        data = base64.b64encode(b"very-private-value").decode()
        r = await c.post("/v1/secrets", json={"name": secret, "data": data})
        assert r.status_code == 201, r.text
        try:
            rows = (await c.get("/v1/audit", params={"action": "secrets_create"})).json()
            assert rows, rows
            text = json.dumps(rows)
            assert data not in text
            assert secret in text
        finally:
            assert (await c.delete(f"/v1/secrets/{secret}")).status_code == 204


async def test_host_parameter(sw: httpx.AsyncClient, swarm_nodes: SwarmNodes) -> None:
    """Every Swarm route takes `host` (the manager is moorage's host `local` here)."""
    r = await sw.get("/v1/nodes", params={"host": "local"})
    assert r.status_code == 200
    assert len(r.json()) == 2
    name = unique("nohost")
    r = await sw.post(
        "/v1/services", params={"host": "nope"}, json={"name": name, "image": TEST_IMAGE}
    )
    problem(r, 404, "host-not-found")
    assert swarm_nodes.docker("manager", "service", "ls", "-q", "--filter", f"name={name}") == ""
    r = await sw.post("/v1/services/x/scale", params={"host": "nope"}, json={"replicas": 1})
    problem(r, 404, "host-not-found")


async def test_bad_input_is_4xx_and_changes_nothing(
    sw: httpx.AsyncClient, swarm_nodes: SwarmNodes
) -> None:
    for params in ({"desired_state": "bogus"}, {"service": "a b"}):
        assert (await sw.get("/v1/tasks", params=params)).status_code == 422
    assert (await sw.get("/v1/services", params={"mode": "both"})).status_code == 422
    assert (await sw.get("/v1/services/x/logs", params={"tail": "-1"})).status_code == 422
    name = unique("bad")
    for body in (
        {"name": name, "image": TEST_IMAGE, "replicas": -1},
        {"name": name, "image": TEST_IMAGE, "stop_grace_period": "10s"},
        {"name": name, "image": TEST_IMAGE, "resources": {"limits": {"memory": "lots"}}},
        {"name": name, "image": TEST_IMAGE, "ports": [{"target": 80, "mode": "vip"}]},
        {
            "name": name,
            "image": TEST_IMAGE,
            "mounts": [{"type": "bind", "source": "rel", "target": "/x"}],
        },
        {"name": "under_score", "image": TEST_IMAGE},
        {"name": name, "image": TEST_IMAGE, "unknown": 1},
        {"name": name},
    ):
        r = await sw.post("/v1/services", json=body)
        assert r.status_code == 422, (body, r.text)
    assert swarm_nodes.docker("manager", "service", "ls", "-q", "--filter", f"name={name}") == ""
    r = await sw.post("/v1/swarm/join", json={"remote_addrs": [], "join_token": "x"})
    assert r.status_code == 422
