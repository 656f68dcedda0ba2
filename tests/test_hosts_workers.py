"""Hosts added, changed and removed through the API reach every worker of
`moorage serve --workers 2` (they share the database; each polls its count of host
changes, app/hosts.py).

Which worker answered a request is read from /proc: the worker process holding the
server side of that TCP connection. A change is made on one worker and must be seen
by every one, not only by the worker that made it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, free_port

pytestmark = [pytest.mark.engine, pytest.mark.slow]

SOCKET = "unix:///var/run/docker.sock"
WORKERS = 2


class Server:
    def __init__(self, tmp_path: Path) -> None:
        hosts = tmp_path / "hosts.toml"
        hosts.write_text(f'[[hosts]]\nname = "local"\nurl = "{SOCKET}"\ndefault = true\n')
        self.port = free_port()
        self.log = tmp_path / "server.log"
        env = {
            **os.environ,
            "MOORAGE_HOSTS_FILE": str(hosts),
            "MOORAGE_AUDIT_DB": str(tmp_path / "moorage.sqlite3"),
            "MOORAGE_HOSTS_SYNC_INTERVAL": "0.5",
        }
        env.pop("MOORAGE_TOKENS_FILE", None)
        with self.log.open("wb") as logf:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "app.cli",
                    "serve",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(WORKERS),
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env,
                stdout=logf,
                stderr=subprocess.STDOUT,
            )

    def workers(self) -> set[int]:
        """The worker processes (the master's children that uvicorn spawned)."""
        found = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            # (not multiprocessing's resource tracker, also a child)
            if ppid == self.proc.pid and b"spawn_main" in (entry / "cmdline").read_bytes():
                found.add(int(entry.name))
        return found

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, int, Any]:
        """(worker pid, status, JSON body) of one request on a new connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = None if body is None else json.dumps(body)
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=data, headers=headers)
            # The connection is still open here: its server side names the worker.
            worker = _owner(conn.sock.getsockname()[1], self.port, self.workers())
            r = conn.getresponse()
            raw = r.read()
            return worker, r.status, json.loads(raw) if raw else None
        finally:
            conn.close()

    def stop(self) -> None:
        workers = self.workers()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in workers:  # a worker the master did not take down with it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _tcp_inode(client_port: int, server_port: int) -> str | None:
    """The inode of the server side of the loopback connection from `client_port`."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                parts = line.split()
                local, remote = parts[1], parts[2]
                if (
                    int(local.rsplit(":", 1)[1], 16) == server_port
                    and int(remote.rsplit(":", 1)[1], 16) == client_port
                ):
                    return parts[9]
    return None


def _owner(client_port: int, server_port: int, pids: set[int]) -> int:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # accepted a moment after the client connected
        inode = _tcp_inode(client_port, server_port)
        if inode is not None and inode != "0":
            for pid in pids:
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    try:
                        if os.readlink(fd) == f"socket:[{inode}]":
                            return pid
                    except OSError:
                        continue
        time.sleep(0.01)
    raise AssertionError(f"no worker holds the connection from port {client_port}")


def _batch(server: Server, method: str, path: str, n: int = 16) -> list[tuple[int, int, Any]]:
    """`n` requests at once, each on its own connection: the workers share one listening
    socket, and connections that come one at a time mostly reach the same worker; a
    burst wakes them all."""
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: server.request(method, path), range(n)))


def _on_every_worker(
    server: Server, path: str, holds: Callable[[int, Any], bool], timeout: float = 30
) -> None:
    """Until each worker has answered `path` so that `holds(status, body)`."""
    workers = server.workers()
    done: set[int] = set()
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while done != workers:
        assert time.monotonic() < deadline, (
            f"{path}: workers {sorted(workers - done)} never did (answered: {sorted(seen)})"
        )
        for who, status, body in _batch(server, "GET", path):
            seen.add(who)
            if holds(status, body):
                done.add(who)
        time.sleep(0.05)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path)
    try:
        deadline = time.monotonic() + 60
        while len(s.workers()) < WORKERS or not _answers(s):
            assert s.proc.poll() is None, s.log.read_text()[-2000:]
            assert time.monotonic() < deadline, s.log.read_text()[-2000:]
            time.sleep(0.2)
        # Each worker has opened its hosts before the test begins.
        _on_every_worker(s, "/v1/hosts", lambda st, _: st == 200)
        yield s
    finally:
        s.stop()


def _answers(server: Server) -> bool:
    try:
        return server.request("GET", "/v1/hosts")[1] == 200
    except (OSError, AssertionError):
        return False


def test_api_hosts_reach_every_worker(server: Server) -> None:
    # Made on one worker, served by every one (the other within its poll, 0.5 s here),
    # and working there: its own engine client, not only a line in the list.
    _, status, body = server.request("POST", "/v1/hosts", {"name": "api-w", "url": SOCKET})
    assert status == 201, body
    _on_every_worker(server, "/v1/hosts/api-w", lambda st, _: st == 200)
    _on_every_worker(server, "/v1/system/ping?host=api-w", lambda st, _: st == 200)
    # The name is taken on every worker: a conflict, never a silent overwrite.
    again = {"name": "api-w", "url": SOCKET, "labels": {"x": "1"}}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: server.request("POST", "/v1/hosts", again), range(8)))
    assert {(st, b["code"]) for _, st, b in answers} == {(409, "name-in-use")}, answers
    assert len({who for who, _, _ in answers}) == WORKERS  # (both were asked)

    _, status, body = server.request("PATCH", "/v1/hosts/api-w", {"labels": {"rack": "b"}})
    assert status == 200, body
    _on_every_worker(
        server, "/v1/hosts/api-w", lambda st, b: st == 200 and b["labels"] == {"rack": "b"}
    )

    _, status, body = server.request("DELETE", "/v1/hosts/api-w")
    assert status == 204, body
    _on_every_worker(server, "/v1/hosts/api-w", lambda st, _: st == 404)
    _on_every_worker(
        server,
        "/v1/system/ping?host=api-w",
        lambda st, b: st == 404 and b["code"] == "host-not-found",
    )
    _on_every_worker(server, "/v1/hosts", lambda st, b: [h["name"] for h in b] == ["local"])
