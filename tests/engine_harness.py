"""A private Docker engine for tests that stop, restart or stall the engine.

The shared engine at /var/run/docker.sock serves other people: it is never stopped,
restarted or paused. Tests that need an engine that goes away get a second dockerd
(scripts/private-engine.sh) with its own socket, data root and exec root, started once
per session and wiped at the end.

Use it by importing the fixtures into a test module:

    from tests.engine_harness import PrivateEngine, private_engine  # noqa: F401

`private_engine` yields a running engine (restarted or resumed if a previous test left
it stopped or paused); the tests skip with a clear message if no second dockerd can
be started here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, TEST_IMAGE

SCRIPT = ROOT / "scripts" / "private-engine.sh"


class PrivateEngine:
    """A dockerd of our own, driven through scripts/private-engine.sh."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.socket = directory / "docker.sock"
        self.url = f"unix://{self.socket}"

    def _script(self, command: str, timeout: float = 90) -> str:
        proc = subprocess.run(
            [str(SCRIPT), command, str(self.dir)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "MOORAGE_TEST_IMAGE": TEST_IMAGE},
        )
        if proc.returncode != 0:
            raise RuntimeError(f"private-engine.sh {command} failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def start(self) -> None:
        self._script("start")

    def stop(self) -> None:
        self._script("stop")

    def pause(self) -> None:
        """SIGSTOP the private dockerd: it accepts connections and answers nothing."""
        self._script("pause")

    def resume(self) -> None:
        self._script("resume")

    def status(self) -> str:
        return self._script("status")

    def wipe(self) -> None:
        self._script("wipe")

    def ensure_running(self) -> None:
        if self.status() != "running" or not self.answers():
            self.start()

    def answers(self) -> bool:
        return (
            subprocess.run(
                ["docker", "-H", self.url, "version", "--format", "{{.Server.Version}}"],
                capture_output=True,
                timeout=5,
                check=False,
            ).returncode
            == 0
        )

    def docker(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        """The docker CLI against the private engine."""
        proc = subprocess.run(
            ["docker", "-H", self.url, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def inspect(self, kind: str, ref: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.docker(kind, "inspect", ref))[0]
        return doc

    def connections(self) -> int:
        """Connected client sockets on the engine's socket (accepted or still queued)."""
        return count_unix_connections(self.socket)

    def clear(self) -> None:
        """Remove every container, volume and non-default network on the PRIVATE engine
        (and its swarm, should a fuzzer have made it one)."""
        self.docker("swarm", "leave", "--force", check=False)
        ids = self.docker("ps", "-aq", check=False).split()
        if ids:
            self.docker("rm", "-fv", *ids, check=False)
        self.docker("volume", "prune", "-f", check=False)
        self.docker("network", "prune", "-f", check=False)


def count_unix_connections(path: Path) -> int:
    """Connected sockets bound to `path` in /proc/net/unix (the server-side ends)."""
    count = 0
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            # Num RefCount Protocol Flags Type St Inode Path; St 03 = accepted,
            # 02 = still in the listen queue (a stopped dockerd accepts nothing).
            if len(parts) >= 8 and parts[7] == str(path) and parts[5] in ("02", "03"):
                count += 1
    return count


def process_unix_sockets(pid: int) -> int:
    """Unix sockets open in process `pid` (its engine connections, plus a constant few)."""
    inodes: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            if len(parts) >= 7 and parts[6] in inodes:
                count += 1
    return count


def process_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def process_rss(pid: int) -> int:
    """Resident set size of `pid` in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


_SHARED: dict[str, PrivateEngine] = {}


def _cannot_run() -> str | None:
    if shutil.which("dockerd") is None:
        return "no dockerd binary here"
    if os.geteuid() != 0:
        return "starting a private dockerd needs root"
    return None


def shared_private_engine(config: pytest.Config) -> PrivateEngine:
    """The session's private engine, started on first use and wiped at the end."""
    if "engine" in _SHARED:
        return _SHARED["engine"]
    reason = _cannot_run()
    if reason:
        pytest.skip(f"private engine unavailable: {reason}")
    engine = PrivateEngine(Path(f"/tmp/moorage-pe-{os.getpid()}"))
    try:
        engine.start()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        engine.wipe()
        pytest.skip(f"private engine unavailable: a second dockerd does not start here: {exc}")
    _SHARED["engine"] = engine
    config.add_cleanup(engine.wipe)
    return engine


@pytest.fixture
def private_engine(request: pytest.FixtureRequest) -> Iterator[PrivateEngine]:
    """A running private engine (whatever the previous test did to it)."""
    engine = shared_private_engine(request.config)
    engine.ensure_running()
    yield engine
    # Leave it running for the next test, whatever this one did.
    if engine.status() == "paused":
        engine.resume()


def wait_for(predicate: Callable[[], bool], timeout: float = 15, interval: float = 0.05) -> bool:
    """Poll `predicate` until it holds (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def route_exists(base_url: str, method: str, path: str) -> bool:
    """False when moorage has no such route (404 `not-found`), as before a merge.

    Reads only the headers, so that it works on endless streams too.
    """
    with httpx.stream(method, base_url + path, timeout=10) as r:
        if r.status_code != 404:
            return True
        r.read()
        return bool(r.json().get("code") != "not-found")
