"""Several engines behind one moorage (app/hosts.py, app/fleet.py), all real.

Three engines: the shared one (`local`, the default) and two private dockerds of
this module's own (scripts/private-engine.sh), plus a disabled host. The private
engines are stopped and SIGSTOPped here; the shared one is never touched beyond
containers of this run.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.hosts import HostRegistry
from app.settings import Settings
from tests.conftest import RUN_ID, TEST_LABEL, exists, in_process
from tests.engine_harness import PrivateEngine, _cannot_run

pytestmark = pytest.mark.slow

# A bound that tells an answer from a hang (a stalled engine never answers; the
# engine read timeout is far longer): not a speed figure.
PROMPT = 5.0
FANOUT_TIMEOUT = 1.0


def _engines() -> Iterator[tuple[PrivateEngine, PrivateEngine]]:
    reason = _cannot_run()
    if reason:
        pytest.skip(f"private engines unavailable: {reason}")
    a = PrivateEngine(Path(f"/tmp/moorage-hosts-{os.getpid()}-a"))
    b = PrivateEngine(Path(f"/tmp/moorage-hosts-{os.getpid()}-b"))
    try:
        a.start()
        b.start()
    except Exception as exc:
        a.wipe()
        b.wipe()
        pytest.skip(f"private engines unavailable: {exc}")
    try:
        yield a, b
    finally:
        a.wipe()
        b.wipe()


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[PrivateEngine, PrivateEngine]]:
    yield from _engines()


@pytest.fixture
def running(engines: tuple[PrivateEngine, PrivateEngine]) -> tuple[PrivateEngine, PrivateEngine]:
    """Both private engines running (whatever the previous test did to them)."""
    for engine in engines:
        engine.ensure_running()
    return engines


def hosts_file(directory: Path, a: PrivateEngine, b: PrivateEngine) -> Path:
    path = directory / "hosts.toml"
    path.write_text(
        f"""
[[hosts]]
name = "local"
url = "unix:///var/run/docker.sock"
default = true
labels = {{ site = "here" }}

[[hosts]]
name = "pe-a"
url = "{a.url}"
labels = {{ site = "a" }}

[[hosts]]
name = "pe-b"
url = "{b.url}"

[[hosts]]
name = "off"
url = "unix:///nonexistent/docker.sock"
disabled = true
"""
    )
    return path


@pytest.fixture
async def fleet(
    tmp_path: Path, running: tuple[PrivateEngine, PrivateEngine]
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    a, b = running
    settings = Settings(
        hosts_file=hosts_file(tmp_path, a, b),
        audit_db=":memory:",
        engine_timeout=60,  # far above PROMPT: an answer within it is not a timeout
        host_fanout_timeout=FANOUT_TIMEOUT,
    )
    async with in_process(settings) as (app, c):
        await until_states(app, {"local": "up", "pe-a": "up", "pe-b": "up", "off": "disabled"})
        yield app, c


async def until_states(app: FastAPI, want: dict[str, str], within: float = 20) -> None:
    """Until the hosts' states are these (each host's prober, told by the registry)."""
    hosts: HostRegistry = app.state.hosts
    with hosts.subscribe() as changes:
        async with asyncio.timeout(within):
            while {n: hosts.get(n).state for n in want} != want:
                with __import__("contextlib").suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await changes.get()


async def prompt(c: httpx.AsyncClient, path: str) -> httpx.Response:
    """A GET that must answer within PROMPT (the app runs in this task: a timeout
    here would cancel it, so the bound is checked after, not enforced)."""
    t0 = time.monotonic()
    r = await c.get(path)
    assert time.monotonic() - t0 < PROMPT, f"{path} took {time.monotonic() - t0:.1f} s"
    return r


def spec(image: str, name: str) -> dict[str, Any]:
    return {
        "image": image,
        "name": name,
        "command": ["sh", "-c", "echo hello from $HOSTNAME; sleep 600"],
        "labels": {TEST_LABEL: RUN_ID},
    }


async def test_hosts_listed_from_moorage_state(
    fleet: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, c = fleet
    r = await c.get("/v1/hosts")
    assert r.status_code == 200, r.text
    by_name = {h["name"]: h for h in r.json()}
    assert list(by_name) == ["local", "pe-a", "pe-b", "off"]
    local, a, off = by_name["local"], by_name["pe-a"], by_name["off"]
    assert local["default"] is True
    assert local["state"] == "up"
    assert local["version"]
    assert local["api_version"] == "1.41"
    assert local["labels"] == {"site": "here"}
    assert local["source"] == "file"
    assert a["default"] is False
    assert a["state"] == "up"
    assert a["url"].startswith("unix:///tmp/moorage-hosts-")
    assert a["containers"] is not None
    assert a["last_seen"] is not None
    assert a["error"] is None
    assert a["swarm"] is None
    assert off["state"] == "disabled"
    assert off["last_seen"] is None
    r = await c.get("/v1/hosts/pe-a")
    assert r.json() == a | {"containers": r.json()["containers"]}
    r = await c.get("/v1/hosts/nope")
    assert r.status_code == 404
    assert r.json()["code"] == "host-not-found"


async def test_create_logs_and_list_on_each_host(
    fleet: tuple[FastAPI, httpx.AsyncClient],
    running: tuple[PrivateEngine, PrivateEngine],
    image: str,
    name: str,
) -> None:
    """A container made on pe-a is on pe-a's engine and nowhere else; its logs, list
    and inspect go to pe-a; `host=*` lists every host's, each item naming its host."""
    _, c = fleet
    a, b = running
    r = await c.post("/v1/containers?host=pe-a", json=spec(image, name))
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert a.inspect("container", name)["Id"] == cid
    assert not exists("container", name)
    assert b.docker("ps", "-aq", "--filter", f"name={name}").strip() == ""
    assert (await c.get(f"/v1/containers/{name}")).status_code == 404
    assert (await c.get(f"/v1/containers/{name}?host=pe-a")).json()["id"] == cid
    r = await c.get(f"/v1/containers/{name}/logs?host=pe-a")
    assert "hello from" in r.text
    listed = (await c.get("/v1/containers", params={"host": "pe-a", "name": name})).json()
    assert [(x["id"], x["host"]) for x in listed] == [(cid, "pe-a")]
    # All at once: the same container, named by its host; the disabled host skipped.
    r = await c.get("/v1/containers", params={"host": "*", "all": "true"})
    assert r.status_code == 200, r.text
    assert r.headers["moorage-unavailable-hosts"] == "off"
    items = r.json()
    assert {x["host"] for x in items} >= {"local", "pe-a"}
    assert [x["host"] for x in items if x["id"] == cid] == ["pe-a"]
    # Repeated host= is the same as naming those hosts.
    r = await c.get("/v1/containers", params=[("host", "pe-a"), ("host", "pe-b")])
    assert {x["host"] for x in r.json()} <= {"pe-a", "pe-b"}
    assert "moorage-unavailable-hosts" not in r.headers
    for path in ("/v1/images", "/v1/networks"):
        r = await c.get(path, params={"host": "*"})
        assert r.status_code == 200, (path, r.text)
        assert {x["host"] for x in r.json()} == {"local", "pe-a", "pe-b"}, path
    r = await c.post("/v1/volumes?host=pe-b", json={"name": name, "labels": {TEST_LABEL: RUN_ID}})
    assert r.status_code == 201, r.text
    assert b.inspect("volume", name)["Name"] == name
    assert not exists("volume", name)
    r = await c.get("/v1/volumes", params={"host": "*", "name": name})
    assert [(v["name"], v["host"]) for v in r.json()] == [(name, "pe-b")]
    assert (await c.delete(f"/v1/volumes/{name}?host=pe-b")).status_code == 204
    # Removed on pe-a, by pe-a.
    r = await c.delete(f"/v1/containers/{name}?host=pe-a&force=true")
    assert r.status_code == 204
    assert a.docker("ps", "-aq", "--filter", f"name={name}").strip() == ""


async def test_a_stopped_host_is_down_and_comes_back(
    fleet: tuple[FastAPI, httpx.AsyncClient],
    running: tuple[PrivateEngine, PrivateEngine],
) -> None:
    app, c = fleet
    _, b = running
    b.stop()
    await until_states(app, {"pe-b": "down"}, within=15)
    r = await c.get("/v1/system/info?host=pe-b")
    assert r.status_code == 503
    assert r.json()["code"] == "host-unavailable"
    assert r.headers["retry-after"]
    r = await c.get("/v1/containers?host=pe-b")
    assert r.status_code == 503
    assert r.json()["code"] == "host-unavailable"
    r = (await c.get("/v1/hosts/pe-b")).json()
    assert r["state"] == "down"
    assert r["error"]
    # The others answer as before; the aggregate names pe-b.
    assert (await c.get("/v1/system/info?host=pe-a")).status_code == 200
    r = await c.get("/v1/containers?host=*")
    assert r.status_code == 200
    assert r.headers["moorage-unavailable-hosts"] == "pe-b,off"
    b.start()
    await until_states(app, {"pe-b": "up"}, within=15)
    assert (await c.get("/v1/system/info?host=pe-b")).status_code == 200


async def test_a_stalled_host_never_slows_the_others(
    fleet: tuple[FastAPI, httpx.AsyncClient],
    running: tuple[PrivateEngine, PrivateEngine],
) -> None:
    """SIGSTOP one engine: it accepts connections and answers nothing. The other hosts,
    the aggregate and GET /v1/hosts keep answering promptly; the stalled host is
    reported down, then up again after SIGCONT."""
    app, c = fleet
    _, b = running
    b.pause()
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 6:  # across the prober's first timeout
            for path in ("/v1/system/info?host=pe-a", "/v1/images?host=local", "/v1/hosts"):
                assert (await prompt(c, path)).status_code == 200, path
            # The aggregate: pe-b skipped after FANOUT_TIMEOUT at most, then at once.
            r = await prompt(c, "/v1/images?host=*")
            assert r.status_code == 200, r.text
            assert {x["host"] for x in r.json()} == {"local", "pe-a"}
            assert r.headers["moorage-unavailable-hosts"] == "pe-b,off"
        await until_states(app, {"pe-b": "down"}, within=15)
        r = await prompt(c, "/v1/volumes?host=pe-b")
        assert r.status_code == 503
        assert r.json()["code"] == "host-unavailable"
        r = await prompt(c, "/v1/volumes?host=*")
        assert r.headers["moorage-unavailable-hosts"] == "pe-b,off"
    finally:
        b.resume()
    await until_states(app, {"pe-b": "up"}, within=15)
