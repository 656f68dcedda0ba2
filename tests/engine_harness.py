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
from typing import Any, TypeVar, cast

import httpx
import pytest

from tests.conftest import ROOT, TEST_IMAGE

SCRIPT = ROOT / "scripts" / "private-engine.sh"
E = TypeVar("E", bound="ScriptedEngine")


class ScriptedEngine:
    """A dockerd of our own, driven through its script (scripts/*-engine.sh COMMAND DIR):
    what the private engine here and the remote ones (tests/transport_harness.py) share."""

    script = SCRIPT

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.socket = directory / "docker.sock"  # the engine's own unix socket

    def run(self, command: str, timeout: float = 90, **env: str) -> str:
        proc = subprocess.run(
            [str(self.script), command, str(self.dir)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "MOORAGE_TEST_IMAGE": TEST_IMAGE, **env},
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{self.script.name} {command} failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def start(self) -> None:
        """Start it (idempotent: resumes a paused one)."""
        self.run("start")

    def pause(self) -> None:
        """SIGSTOP the engine's dockerd: it accepts connections and answers nothing."""
        self.run("pause")

    def resume(self) -> None:
        self.run("resume")

    def wipe(self) -> None:
        self.run("wipe")

    def docker(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        """The docker CLI on the engine's own unix socket (set-up and the truth)."""
        proc = subprocess.run(
            ["docker", "-H", f"unix://{self.socket}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def remove_containers(self, *flags: str) -> None:
        """Remove every container on this PRIVATE engine."""
        ids = self.docker("ps", "-aq", check=False).split()
        if ids:
            self.docker("rm", "-f", *flags, *ids, check=False)


class PrivateEngine(ScriptedEngine):
    """A dockerd of our own, driven through scripts/private-engine.sh."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.url = f"unix://{self.socket}"

    def stop(self) -> None:
        self.run("stop")

    def status(self) -> str:
        return self.run("status")

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
        self.remove_containers("-v")
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


_SHARED: dict[str, ScriptedEngine] = {}


def _cannot_run() -> str | None:
    if shutil.which("dockerd") is None:
        return "no dockerd binary here"
    if os.geteuid() != 0:
        return "starting a private dockerd needs root"
    return None


def shared_engine(
    config: pytest.Config,
    key: str,
    make: Callable[[], E],
    cannot_run: Callable[[], str | None],
    what: str,
    no_start: str,
) -> E:
    """The session's engine `key`, made and started on first use, wiped at the end; else
    a skip saying `what` is unavailable and why (`cannot_run()`, or `no_start`: error)."""
    if key in _SHARED:
        engine = _SHARED[key]
    else:
        reason = cannot_run()
        if reason:
            pytest.skip(f"{what} unavailable: {reason}")
        engine = make()
        try:
            engine.start()
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            engine.wipe()
            pytest.skip(f"{what} unavailable: {no_start}: {exc}")
        _SHARED[key] = engine
        config.add_cleanup(engine.wipe)
    return cast(E, engine)


def shared_private_engine(config: pytest.Config) -> PrivateEngine:
    """The session's private engine, started on first use and wiped at the end."""
    return shared_engine(
        config,
        "engine",
        lambda: PrivateEngine(Path(f"/tmp/moorage-pe-{os.getpid()}")),
        _cannot_run,
        "private engine",
        "a second dockerd does not start here",
    )


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
