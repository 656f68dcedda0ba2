"""Fixtures: a real engine, the app in process, and a real uvicorn for streams.

Every object a test makes on the engine carries the label `moorage.test=<run id>`,
and the session removes what is left of its own run at the end (never anyone else's:
several checkouts may share one engine).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.engine import Engine
from app.main import create_app
from app.settings import Settings

TEST_IMAGE = os.environ.get("MOORAGE_TEST_IMAGE", "moorage-test/busybox:latest")
RUN_ID = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
TEST_LABEL = "moorage.test"
ROOT = Path(__file__).resolve().parent.parent


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    """Run the docker CLI: the engine's own view, the truth tests compare with."""
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def inspect(kind: str, ref: str) -> dict[str, Any]:
    """`docker <kind> inspect ref` as a dict."""
    out = docker(kind, "inspect", ref)
    doc: dict[str, Any] = json.loads(out)[0]
    return doc


def exists(kind: str, ref: str) -> bool:
    return (
        subprocess.run(
            ["docker", kind, "inspect", ref], capture_output=True, check=False
        ).returncode
        == 0
    )


def remove_tags(repository: str) -> None:
    """`docker rmi -f` every tag of a repository this test made."""
    for ref in docker("images", "--format", "{{.Repository}}:{{.Tag}}", repository).split():
        docker("rmi", "-f", ref, check=False)


# Image removals the engine held past their wait: retried once more at the session's end.
_HELD_REMOVALS: list[tuple[str, bool]] = []


def rmi(*refs: str, force: bool = True, timeout: float = 120) -> None:
    """Remove images a test made. Gone already is fine; any other refusal fails the
    test (something of ours still holds the image: a leak, not noise). A delete the
    engine holds past `timeout` (a shared engine busy with other suites' builds and
    deletes; a quiet one answers in milliseconds) does not fail the test it cleans
    up after: it is retried at the session's end, which fails if it still cannot."""
    for ref in refs:
        flags = ["-f"] if force else []
        try:
            proc = subprocess.run(
                ["docker", "rmi", *flags, ref],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            _HELD_REMOVALS.append((ref, force))
            continue
        if proc.returncode != 0 and "No such image" not in proc.stderr:
            raise AssertionError(f"docker rmi {' '.join(flags)} {ref}: {proc.stderr.strip()}")


@pytest.fixture(scope="session", autouse=True)
def _held_image_removals() -> Iterator[None]:
    yield
    held, failed = list(_HELD_REMOVALS), []
    _HELD_REMOVALS.clear()
    for ref, force in held:
        try:
            rmi(ref, force=force, timeout=600)
        except AssertionError as exc:
            failed.append(str(exc))
    failed += [f"docker rmi {ref}: still held after 600 s" for ref, _ in _HELD_REMOVALS]
    assert not failed, failed


def run_sleeper(image: str, name: str, *extra: str, seconds: int = 600) -> str:
    """`docker run -d` a container of this run that sleeps (no network); gives its name."""
    docker(
        "run", "-d", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}", *extra,
        "--name", name, image, "sleep", str(seconds),
    )  # fmt: skip
    return name


def test_labels(**extra: str) -> dict[str, str]:
    return {TEST_LABEL: RUN_ID, **extra}


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A unique engine-safe name for this test."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:30].strip("-")
    return f"mt-{base}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def image() -> str:
    return TEST_IMAGE


@pytest.fixture(scope="session", autouse=True)
def _engine_cleanup() -> Iterator[None]:
    yield
    flt = f"label={TEST_LABEL}={RUN_ID}"
    ids = docker("ps", "-aq", "--filter", flt, check=False).split()
    if ids:
        docker("rm", "-fv", *ids, check=False)
    nets = docker("network", "ls", "-q", "--filter", flt, check=False).split()
    if nets:
        docker("network", "rm", *nets, check=False)
    vols = docker("volume", "ls", "-q", "--filter", flt, check=False).split()
    if vols:
        docker("volume", "rm", "-f", *vols, check=False)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@contextlib.asynccontextmanager
async def in_process(
    settings: Settings,
    *,
    peer: tuple[str, int] = ("127.0.0.1", 123),
    client_timeout: float = 60,
    setup: Callable[[FastAPI], None] | None = None,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app in process with its lifespan run (`setup` first), and a client asking it
    from `peer` (not for endless streams: ASGITransport buffers bodies)."""
    app = create_app(settings)
    if setup is not None:
        setup(app)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=peer)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://moorage.test", timeout=client_timeout
        ) as c:
            yield app, c


@contextlib.asynccontextmanager
async def guarded_engine(policy_file: Path) -> AsyncIterator[Engine]:
    """An engine client with this policy's guard on every call, closed after."""
    engine = Engine(Settings(policy_file=policy_file))
    try:
        yield engine
    finally:
        await engine.close()


def tar_of(files: dict[str, bytes]) -> bytes:
    """An uncompressed tar holding these files (path → content)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def refused(r: httpx.Response, rule: str) -> None:
    """A 403 policy violation naming `rule`."""
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["code"] == "policy-violation", body
    assert body["detail"].startswith(rule + ":"), body["detail"]


@pytest.fixture(scope="session")
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process (not for endless streams: ASGITransport buffers bodies)."""
    async with in_process(settings) as (_, c):
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    """moorage under a real uvicorn on a loopback port, in its own process."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = ROOT / f".pytest-server-{self.port}.log"
        self._env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self, logf: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self._env,
            stdout=logf,
            stderr=subprocess.STDOUT,
        )

    def start(self, wait_ready: bool = False) -> LiveServer:
        with self.log.open("wb") as logf:  # the child keeps its own descriptor
            self.proc = self._spawn(logf)
        deadline = time.monotonic() + 30
        path = "/readyz" if wait_ready else "/healthz"
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        log = self.log.read_text(errors="replace")[-2000:]  # stop() deletes it
        self.stop()
        raise AssertionError(f"server did not start: {log}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    server = LiveServer().start(wait_ready=True)
    yield server
    server.stop()


# Skips that only a missing tool or service explains are failures under CI=true: a test
# that cannot run there is a missing install step (scripts/system-packages.txt), not a pass.
ALLOWED_CI_SKIPS = ("a neighbour's network overlaps",)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("CI", "").lower() != "true" or not report.skipped:
        return
    reason = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr)
    if any(allowed in reason for allowed in ALLOWED_CI_SKIPS) or hasattr(report, "wasxfail"):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true (install it through scripts/): {reason}"


class SwarmNodes:
    """The two-node swarm of scripts/swarm-up.sh: each node's engine socket."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manager = f"unix://{root}/manager/docker.sock"
        self.worker = f"unix://{root}/worker/docker.sock"

    def docker(self, node: str, *args: str, check: bool = True) -> str:
        """The docker CLI on one node (`manager` or `worker`)."""
        return docker("-H", getattr(self, node), *args, check=check)


@pytest.fixture(scope="session")
def swarm_nodes() -> Iterator[SwarmNodes]:
    """A real two-node swarm (two private engines in their own namespaces), started
    once for the session (about 2 s) and removed after it, leaving nothing behind."""
    root = Path(f"/tmp/moorage-swarm-{RUN_ID}")
    script = str(ROOT / "scripts" / "swarm-up.sh")
    proc = subprocess.run(
        [script, "up", str(root)], capture_output=True, text=True, timeout=180, check=False
    )
    if proc.returncode != 0:
        subprocess.run([script, "down", str(root)], capture_output=True, timeout=120, check=False)
        raise AssertionError(f"swarm-up.sh up failed: {proc.stderr.strip()}")
    nodes = SwarmNodes(root)
    try:
        for node in ("manager", "worker"):
            # A second tag of the test image on each node: an image update to roll out.
            nodes.docker(node, "tag", TEST_IMAGE, SWARM_IMAGE_V2)
        yield nodes
    finally:
        subprocess.run([script, "down", str(root)], capture_output=True, timeout=120, check=False)


SWARM_IMAGE_V2 = "moorage-test/busybox:v2"
