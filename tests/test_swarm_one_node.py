"""The one-node case: a private engine that is its own swarm (and moorage's default
host), made a manager through moorage itself: init, join tokens, a service, refusals
that follow the node's state, leave."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from app.settings import Settings
from tests.conftest import ROOT, RUN_ID, TEST_IMAGE, in_process

pytestmark = pytest.mark.slow

SCRIPT = str(ROOT / "scripts" / "private-engine.sh")


@pytest.fixture(scope="module")
def engine_url() -> Iterator[str]:
    root = f"/tmp/moorage-1node-{RUN_ID}"
    proc = subprocess.run([SCRIPT, "start", root], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    try:
        yield proc.stdout.strip()
    finally:
        subprocess.run([SCRIPT, "wipe", root], capture_output=True, timeout=120, check=False)


async def test_init_use_and_leave(engine_url: str) -> None:
    async with in_process(Settings(docker_host=engine_url, audit_db=":memory:")) as (_, c):
        doc = (await c.get("/v1/swarm")).json()
        assert doc["local_node_state"] == "inactive"
        assert doc["control_available"] is False
        r = await c.get("/v1/services")
        assert r.status_code == 409
        assert r.json()["code"] == "not-a-swarm-manager"
        r = await c.post("/v1/swarm/leave")
        assert r.status_code == 409  # not in a swarm: nothing to leave
        r = await c.post(
            "/v1/swarm/init",
            json={"advertise_addr": "127.0.0.1", "listen_addr": "127.0.0.1:2377", "bogus": 1},
        )
        assert r.status_code == 422
        r = await c.post(
            "/v1/swarm/init", json={"advertise_addr": "127.0.0.1", "listen_addr": "127.0.0.1:2377"}
        )
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["local_node_state"] == "active"
        assert doc["control_available"] is True
        assert doc["nodes"] == 1
        r = await c.post(
            "/v1/swarm/init", json={"advertise_addr": "127.0.0.1", "listen_addr": "127.0.0.1:2377"}
        )
        assert r.status_code == 409  # already in one
        tokens = (await c.get("/v1/swarm/join-tokens")).json()
        assert tokens["worker"].startswith("SWMTKN-")
        name = f"solo-{uuid.uuid4().hex[:6]}"
        r = await c.post(
            "/v1/services",
            json={"name": name, "image": TEST_IMAGE, "args": ["sleep", "600"], "replicas": 2},
        )
        assert r.status_code == 201, r.text
        for _ in range(200):
            got = (await c.get(f"/v1/services/{name}")).json()
            if got["replicas"] == {"running": 2, "desired": 2}:
                break
            await asyncio.sleep(0.3)
        else:
            raise AssertionError(f"not running: {got['replicas']}")
        node = (await c.get("/v1/nodes")).json()
        assert len(node) == 1
        assert node[0]["leader"] is True
        r = await c.post("/v1/swarm/leave")
        assert r.status_code == 409  # the last manager: only with force
        r = await c.post("/v1/swarm/leave", params={"force": True})
        assert r.status_code == 204, r.text
        assert (await c.get("/v1/swarm")).json()["local_node_state"] == "inactive"
        assert (await c.get("/v1/services")).status_code == 409
