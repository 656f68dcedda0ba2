"""Hosts (app/hosts.py): the host shape, `?host=` on every engine operation.

Without a hosts file there is one host, `local`, from DOCKER_HOST; the tests here
check that it behaves as before hosts existed, that `host=local` names it, and that
a host moorage does not know is a 404 `host-not-found` on every path (routed, hot
read, streams, changes) with nothing done on the engine.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from app.hosts import Host, HostRegistry
from app.main import create_app
from app.settings import Settings
from tests.conftest import docker, exists, in_process, inspect, run_sleeper
from tests.conftest import test_labels as our_labels

NOT_HOST_OPS = {
    "healthz",
    "readyz",
    "metrics",
    "audit_list",
    "auth_session_create",
    "auth_session_delete",
    "auth_tickets_create",
    "auth_whoami",
}


def _host_not_found(r: httpx.Response, name: str = "nope") -> None:
    assert r.status_code == 404, r.text
    body = r.json()
    assert body["code"] == "host-not-found", body
    assert repr(name) in body["detail"]


def test_every_engine_operation_takes_host_once() -> None:
    """One operation per route, each engine one with one optional `host` parameter;
    the routes that are not about an engine have none."""
    spec: dict[str, Any] = create_app(Settings()).openapi()
    seen: set[str] = set()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            names = [p.get("name") for p in op.get("parameters", []) if p.get("in") == "query"]
            op_id = op["operationId"]
            assert op_id not in seen
            seen.add(op_id)
            if op_id in NOT_HOST_OPS or path.startswith(("/v1/hosts", "/v1/alerts")):
                assert "host" not in names, (method, path)
                continue
            assert names.count("host") == 1, (method, path)
            param = next(p for p in op["parameters"] if p.get("name") == "host")
            assert not param.get("required")
            assert "host-not-found" in op["x-moorage-problems"]["404"], (method, path)


async def test_one_local_host_from_docker_host(settings: Settings) -> None:
    async with in_process(settings) as (app, c):
        hosts: HostRegistry = app.state.hosts
        assert [h.name for h in hosts.all()] == ["local"]
        local = hosts.default
        assert hosts.get(None) is local
        assert hosts.get("local") is local
        assert local.engine.url == settings.docker_host
        # The default host's parts are the app's, for code not yet host-aware.
        assert app.state.engine is local.engine
        assert app.state.containers is local.containers
        r = await c.get("/readyz")
        assert r.status_code == 200, r.text
        assert set(r.json()["hosts"]) == {"local"}
        await _until_up(hosts, local)
        assert (await c.get("/readyz")).json()["hosts"] == {"local": "up"}
        assert local.version
        assert local.api_version
        assert local.last_seen


async def _until_up(hosts: HostRegistry, host: Host) -> None:
    """Until the host's prober has seen its engine (told by the registry's changes)."""
    with hosts.subscribe() as changes:
        async with asyncio.timeout(15):
            while host.state != "up":
                await changes.get()


async def test_readyz_answers_from_the_prober(settings: Settings) -> None:
    """/readyz reads the default host's prober: no GET /version of its own per check
    (the engine answers nothing between the checks), and it reports what the probe saw."""
    # One probe a minute, and room for a loaded engine's answer (a probe slower than
    # the probe timeout marks the host down; readiness waits ready_timeout on one).
    quiet = settings.model_copy(
        update={"host_probe_interval": 60.0, "host_probe_timeout": 30.0, "ready_timeout": 30.0}
    )
    async with in_process(quiet) as (app, c):
        hosts: HostRegistry = app.state.hosts
        local = hosts.default
        first = await c.get("/readyz")  # waits for the first probe
        assert first.status_code == 200, first.text
        await _until_up(hosts, local)
        seen = local.engine.answered_at
        for _ in range(5):
            r = await c.get("/readyz")
            assert r.status_code == 200, r.text
        assert local.engine.answered_at == seen  # nothing asked of the engine
        engine = r.json()["engine"]
        version = docker("version", "--format", "{{.Server.Version}}").strip()
        assert engine["version"] == version
        assert engine["api_version"] == local.api_version
        assert engine["os"] == "linux"
        assert engine["arch"]


async def test_host_local_names_the_default(
    client: httpx.AsyncClient, image: str, name: str
) -> None:
    run_sleeper(image, name)
    cid = inspect("container", name)["Id"]
    for params in ({}, {"host": "local"}):
        # The hot read (HotReads) and the routed one (`fresh=TRUE`: a word the hot path
        # leaves to pydantic) agree.
        for fresh in ({}, {"fresh": "TRUE"}):
            r = await client.get(f"/v1/containers/{name}", params={**params, **fresh})
            assert r.status_code == 200, r.text
            assert r.json()["id"] == cid
        # Made outside moorage: the state may not have its event yet (`fresh`).
        r = await client.get("/v1/containers", params={**params, "name": name, "fresh": "true"})
        assert [x["id"] for x in r.json()] == [cid]
        r = await client.get(f"/v1/containers/{name}/top", params=params)
        assert r.status_code == 200, r.text
    r = await client.get("/v1/system/ping", params={"host": "local"})
    assert r.status_code == 200
    assert r.json()["ok"] is True


@pytest.mark.parametrize(
    "path",
    [
        "/v1/containers",
        "/v1/containers/whatever",
        "/v1/containers/whatever?fresh=true",
        "/v1/containers/whatever?fresh=true&stale=false",
        "/v1/images",
        "/v1/volumes",
        "/v1/networks",
        "/v1/system/info",
        "/v1/system/df",
        "/v1/execs/0123abcd",
    ],
)
async def test_unknown_host_is_404(client: httpx.AsyncClient, path: str) -> None:
    sep = "&" if "?" in path else "?"
    _host_not_found(await client.get(f"{path}{sep}host=nope"))


async def test_hot_read_and_routed_read_agree_on_hosts(client: httpx.AsyncClient) -> None:
    """`?host=` on the hot read: a good name is answered there, a bad one is routed
    (and refused by the parameter's pattern), the same as the routed path."""
    hot = await client.get("/v1/containers/whatever-xyz?host=nope")
    routed = await client.get("/v1/containers/whatever-xyz?host=nope&fresh=TRUE")
    _host_not_found(hot)
    _host_not_found(routed)
    for bad in ("UPPER", "-dash", "a" * 64, "a_b", "a.b"):
        r = await client.get(f"/v1/containers/whatever-xyz?host={bad}")
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["code"] == "validation-error"


async def test_change_on_unknown_host_changes_nothing(
    client: httpx.AsyncClient, image: str, name: str
) -> None:
    """A create, a stop and a remove on a host that does not exist: 404, and nothing
    made or stopped on any engine."""
    r = await client.post(
        "/v1/containers?host=nope",
        json={"image": image, "name": name, "command": ["sleep", "60"], "labels": our_labels()},
    )
    _host_not_found(r)
    assert not exists("container", name)
    other = f"{name}-kept"
    run_sleeper(image, other)
    _host_not_found(await client.post(f"/v1/containers/{other}/stop?host=nope"))
    _host_not_found(await client.delete(f"/v1/containers/{other}?host=nope&force=true"))
    assert docker("inspect", "-f", "{{.State.Running}}", other).strip() == "true"


@pytest.mark.slow
async def test_streams_take_host(live_server: Any) -> None:
    """The streams resolve their bus, hubs and journal through the host: an unknown
    one is refused before the stream starts, a known one streams."""
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as c:
        for path in ("/v1/events", "/v1/health/stream", "/v1/stats/stream"):
            _host_not_found(await c.get(f"{path}?host=nope"))
            async with c.stream("GET", path, params={"host": "local"}) as r:
                assert r.status_code == 200
                assert r.headers["content-type"].startswith("text/event-stream")


async def test_metrics_per_host(client: httpx.AsyncClient) -> None:
    text = (await client.get("/metrics")).text
    assert 'moorage_host_engine_connections_open{host="local"}' in text
    assert 'moorage_host_up{host="local"}' in text
    # The unlabelled series stay: totals over the hosts (one here).
    assert "moorage_engine_events_connected 1" in text
