"""The swarm log tests' set-up (a service whose tasks print lines, a hosts file naming
both nodes), shared by tests/test_swarm_logs*.py and bench/swarm_logs.py.

No pytest here (nor tests.conftest, which imports it): the bench imports this module.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import httpx

IMAGE = os.environ.get("MOORAGE_TEST_IMAGE", "moorage-test/busybox:latest")


def hosts_toml(manager: str, worker: str) -> str:
    """A hosts file naming both nodes' engines, the manager the default."""
    return (
        f'[[hosts]]\nname = "manager"\nurl = "{manager}"\ndefault = true\n\n'
        f'[[hosts]]\nname = "worker"\nurl = "{worker}"\n'
    )


def worker_known(url: str) -> bool:
    """The worker host is up and its prober has read its swarm node id (until then its
    tasks are followed through the manager)."""
    found = httpx.get(f"{url}/v1/hosts/worker", timeout=10).json()
    return bool((found.get("swarm") or {}).get("node_id")) and found.get("state") == "up"


async def start_service(
    api: httpx.AsyncClient,
    prefix: str,
    script: str,
    replicas: int,
    *,
    within: float = 90,
    **extra: Any,
) -> str:
    """A new service (named `<prefix>-<random>`, returned) of `replicas` tasks running
    `script` under `sh -c`, each with its slot in `$SLOT`, once every task runs. A
    service whose tasks do not all start `within` s is removed (AssertionError)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    r = await api.post(
        "/v1/services",
        json={
            "name": name,
            "image": IMAGE,
            "command": ["sh", "-c", script],
            "environment": {"SLOT": "{{.Task.Slot}}"},
            "replicas": replicas,
            "endpoint_mode": "dnsrr",
            "stop_grace_period": 1,
            **extra,
        },
    )
    if r.status_code != 201:
        raise AssertionError(f"{r.status_code} {r.text}")
    running = {"service": name, "desired_state": "running"}
    try:
        async with asyncio.timeout(within):
            while True:
                tasks = (await api.get("/v1/tasks", params=running)).json()
                if len(tasks) == replicas and all(t["state"] == "running" for t in tasks):
                    return name
                await asyncio.sleep(0.3)
    except TimeoutError:
        await api.delete(f"/v1/services/{name}")
        raise AssertionError(f"the {replicas} tasks of {name} did not start") from None
