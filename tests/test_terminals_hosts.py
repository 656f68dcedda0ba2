"""Terminals on another host: exec and attach WebSockets and the resize routes take
`host`, against a private engine (scripts/private-engine.sh) next to the shared one.

The private engine runs in its own pid namespace, so ending a terminal there takes
the in-container reaper (app/services/reaper.py), not the kill from this machine's
/proc: the leak check below covers that path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.conftest import RUN_ID, TEST_IMAGE, TEST_LABEL, LiveServer
from tests.engine_harness import PrivateEngine, private_engine
from tests.test_terminals import (
    Served,
    connect,
    open_exec,
    read_until,
    ready,
    resize_both_ways,
    size_is,
    until_exit,
    wait_for,
)

__all__ = ["private_engine"]

HOST = "pe"


@pytest.fixture
def server(private_engine: PrivateEngine, tmp_path: Path) -> Iterator[LiveServer]:
    """`moorage serve` with two hosts: `local` (the shared engine) and the private one."""
    hosts = tmp_path / "hosts.toml"
    local = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    hosts.write_text(
        f'[[hosts]]\nname = "local"\nurl = "{local}"\ndefault = true\n\n'
        f'[[hosts]]\nname = "{HOST}"\nurl = "{private_engine.url}"\n'
    )
    live = Served(
        env={
            "MOORAGE_HOSTS_FILE": str(hosts),
            "MOORAGE_AUDIT_DB": str(tmp_path / "audit.sqlite3"),
            "MOORAGE_TERMINAL_REATTACH_GRACE": "4",
        }
    ).start(wait_ready=True)
    yield live
    live.stop()


@pytest.fixture
def box(private_engine: PrivateEngine, name: str) -> Iterator[str]:
    """A container on the private engine only: a sleeper, and a `sh -i` on a TTY."""
    for suffix, extra in (("", ["sleep", "600"]), ("-sh", ["sh"])):
        flags = ["-it"] if suffix else []
        private_engine.docker(
            "run", "-d", *flags, "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}",
            "--name", name + suffix, TEST_IMAGE, *extra,
        )  # fmt: skip
    yield name
    private_engine.docker("rm", "-f", name, name + "-sh", check=False)


def top(engine: PrivateEngine, container: str) -> list[str]:
    out = engine.docker("top", container, "-o", "pid,args")
    return [line for line in out.splitlines()[1:] if line.strip()]


async def test_an_exec_terminal_on_another_host(
    server: LiveServer, private_engine: PrivateEngine, box: str
) -> None:
    baseline = len(top(private_engine, box))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        # Not on the default host: there it does not exist.
        r = await c.post(f"/v1/containers/{box}/exec", json={"interactive": True})
        assert r.status_code == 404, r.text
    t = await open_exec(server, box, role=None, host=HOST, tty=True, rows=30, cols=100)
    assert t["ws"] == f"/v1/execs/{t['exec_id']}/ws?host={HOST}"
    # The exec id means nothing on the default host.
    with pytest.raises(websockets.InvalidStatus) as info:
        await connect(server, f"/v1/execs/{t['exec_id']}/ws", role=None)
    assert info.value.response.status_code == 404
    async with connect(server, t["ws"], role=None) as ws:
        await ready(ws)
        await size_is(ws, 30, 100)
        resize = f"/v1/execs/{t['exec_id']}/resize"
        await resize_both_ways(server, ws, resize, (40, 120), (50, 132), role=None, host=HOST)
        # Jobs left behind, one with its environment cleared: ended with it.
        await ws.send(b"env -i sh -c 'sleep 3001' & sleep 2001 & echo jobs\n")
        await read_until(ws, b"jobs")
        await ws.close()  # 1000: the terminal ends, and its processes
    await wait_for(lambda: len(top(private_engine, box)) == baseline)
    left = top(private_engine, box)
    assert not any("sleep 2001" in p or "sleep 3001" in p for p in left), left


async def test_an_attach_terminal_on_another_host(
    server: LiveServer, private_engine: PrivateEngine, box: str
) -> None:
    shell = box + "-sh"
    path = f"/v1/containers/{shell}/attach/ws?host={HOST}&rows=33&cols=90"
    async with connect(server, path, role=None) as ws:
        assert (await ready(ws))["tty"] is True
        await size_is(ws, 33, 90)
        resize = f"/v1/containers/{shell}/resize"
        await resize_both_ways(server, ws, resize, (40, 100), (44, 111), role=None, host=HOST)
        await ws.send(b"exit 3\n")
        _, doc = await until_exit(ws)
    assert doc["exit_code"] == 3
    assert private_engine.inspect("container", shell)["State"]["ExitCode"] == 3
