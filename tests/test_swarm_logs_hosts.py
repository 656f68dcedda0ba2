"""A service's logs where the worker node is also a configured host: its tasks' lines
are read from the worker's own engine, and still arrive when the manager's log path to
the worker is cut (the veth between the two nodes' namespaces taken down) while the
worker's engine answers (moby #33183's symptom, made for real)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from app.services.swarm_logs import parse_id
from tests.conftest import LiveServer, SwarmNodes
from tests.engine_harness import wait_for
from tests.sse import events
from tests.swarm_helpers import hosts_toml, start_service, worker_known

pytestmark = pytest.mark.slow

COUNTER = 'i=0; while true; do i=$((i+1)); echo "$SLOT $i"; usleep 50000; done'


@pytest.fixture(scope="module")
def server(
    swarm_nodes: SwarmNodes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    hosts = tmp_path_factory.mktemp("swarmhosts") / "hosts.toml"
    hosts.write_text(hosts_toml(swarm_nodes.manager, swarm_nodes.worker))
    env = {"MOORAGE_HOSTS_FILE": str(hosts), "MOORAGE_SWARM_LOGS_WINDOW": "0.5"}
    live = LiveServer(env).start(wait_ready=True)
    try:
        assert wait_for(lambda: worker_known(live.url), 60, 0.3), (
            "the worker host's swarm node id was not read"
        )
        yield live
    finally:
        live.stop()


@pytest.fixture
async def api(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        yield c


def in_use(server: LiveServer, host: str) -> int:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.search(
        rf'^moorage_host_engine_connections_in_use\{{host="{host}"\}} (\S+)$', text, re.M
    )
    return int(float(found.group(1))) if found else 0


async def test_worker_tasks_are_followed_on_the_worker_host(
    api: httpx.AsyncClient, server: LiveServer
) -> None:
    name = await start_service(api, "hostlogs", COUNTER, 4)
    try:
        nodes = {n["hostname"]: n["id"] for n in (await api.get("/v1/nodes")).json()}
        worker_id = (await api.get("/v1/hosts/worker")).json()["swarm"]["node_id"]
        assert worker_id == nodes["swarm-worker"]
        tasks = {
            t["id"]: t
            for t in (
                await api.get("/v1/tasks", params={"service": name, "desired_state": "running"})
            ).json()
        }
        on_worker = [t for t in tasks.values() if t["node_id"] == worker_id]
        assert on_worker, "the swarm put no task on the worker"
        idle = await asyncio.to_thread(in_use, server, "worker")
        got: list[dict[str, Any]] = []
        url = f"/v1/services/{name}/logs/stream"
        async with api.stream("GET", url) as resp:
            assert resp.status_code == 200
            async for ev in events(resp):
                assert ev.event == "log", (ev.event, ev.data)
                got.append({**ev.json, "id": ev.id})
                if len(got) == 30:
                    # While it streams, the worker's host holds one follow per task there.
                    assert await asyncio.to_thread(
                        wait_for, lambda: in_use(server, "worker") >= idle + len(on_worker), 30
                    ), (idle, in_use(server, "worker"))
                if len(got) >= 200:
                    break
        ks = [parse_id(line["id"]) for line in got]
        assert ks == sorted(ks)
        assert len(set(ks)) == len(ks)
        assert {line["node_id"] for line in got} == set(nodes.values())
        for line in got:
            task = tasks[line["task_id"]]
            assert line["container_id"] == task["container_id"]
            assert line["node_id"] == task["node_id"]
            assert int(line["line"].split()[0]) == line["slot"] == task["slot"]
        # History reads the worker's tasks there too, with the same ids.
        history = (await api.get(f"/v1/services/{name}/logs")).json()
        ids = {line["id"] for line in history}
        assert {line["id"] for line in got} <= ids
    finally:
        await api.delete(f"/v1/services/{name}")


def _netns(swarm_nodes: SwarmNodes, node: str) -> str:
    tag = hashlib.md5(str(swarm_nodes.root).encode()).hexdigest()[:8]  # as swarm-up.sh
    return f"moorage-sw-{tag}-{node[0]}"


def _link(swarm_nodes: SwarmNodes, state: str) -> None:
    ns = _netns(swarm_nodes, "worker")
    subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "swarm0", state], check=True)


def _manager_lines_since(swarm_nodes: SwarmNodes, service: str, since: float) -> str:
    """What the manager's own service logs give for a few seconds (follow)."""
    proc = subprocess.run(
        [
            "timeout",
            "4",
            "docker",
            "-H",
            swarm_nodes.manager,
            "service",
            "logs",
            "--raw",
            "--since",
            f"{since:.3f}",
            "-f",
            service,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout


async def test_lines_arrive_while_the_managers_path_to_the_worker_is_cut(
    api: httpx.AsyncClient, server: LiveServer, swarm_nodes: SwarmNodes
) -> None:
    name = await start_service(
        api, "hostlogs", COUNTER, 1, constraints=["node.hostname==swarm-worker"]
    )
    url = f"/v1/services/{name}/logs/stream"
    got: list[dict[str, Any]] = []
    cut_at = 0.0
    try:
        # (Without the worker's own path the lines stop at the cut: fail, not hang.)
        async with asyncio.timeout(120), api.stream("GET", url) as resp:
            assert resp.status_code == 200
            async for ev in events(resp):
                assert ev.event == "log", (ev.event, ev.data)
                got.append({**ev.json, "id": ev.id})
                if len(got) == 10:
                    _link(swarm_nodes, "down")
                    cut_at = time.time()
                    await asyncio.sleep(0.5)
                    # The manager's log path to the worker is broken for real: nothing.
                    lost = await asyncio.to_thread(
                        _manager_lines_since, swarm_nodes, name, cut_at + 0.5
                    )
                    assert lost == "", lost
                if cut_at and parse_id(got[-1]["id"])[0] > (cut_at + 5) * 1e9:
                    break
            # A new client during the cut, resuming from an early line: its history
            # comes from the worker's engine, then the shared live lines.
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as other:
                again: list[dict[str, Any]] = []
                async with other.stream(
                    "GET", url, headers={"Last-Event-ID": got[4]["id"]}
                ) as resp2:
                    async for ev in events(resp2):
                        assert ev.event == "log", (ev.event, ev.data)
                        again.append({**ev.json, "id": ev.id})
                        if len(again) == len(got) - 5:
                            break
            history = (await api.get(f"/v1/services/{name}/logs")).json()
            task_lines = (await api.get(f"/v1/tasks/{got[0]['task_id']}/logs")).json()
    finally:
        _link(swarm_nodes, "up")
    numbers = [int(line["line"].split()[1]) for line in got]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # none lost, none twice
    assert parse_id(got[-1]["id"])[0] > (cut_at + 5) * 1e9  # lines from well after the cut
    assert [line["id"] for line in again] == [line["id"] for line in got[5:]]
    first, last = parse_id(got[0]["id"]), parse_id(got[-1]["id"])
    span = [line["id"] for line in history if first <= parse_id(line["id"]) <= last]
    assert span == [line["id"] for line in got]  # the history, read on the worker, agrees
    assert {line["id"] for line in got} <= {line["id"] for line in task_lines}
    try:
        # The swarm as it was for the other tests: both nodes ready, the link's lines back.
        def ready() -> bool:
            nodes = httpx.get(f"{server.url}/v1/nodes", timeout=10).json()
            return len(nodes) == 2 and all(n["state"] == "ready" for n in nodes)

        assert await asyncio.to_thread(wait_for, ready, 60, 0.5)
    finally:
        await api.delete(f"/v1/services/{name}")
