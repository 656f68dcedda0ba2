"""Remote engines for transport tests: a private dockerd behind TLS, one behind sshd.

    from tests.transport_harness import ssh_engine, tls_engine  # noqa: F401

Both are started once per session (scripts/tls-engine.sh, scripts/ssh-engine.sh) and
wiped at its end; each fixture hands over a running engine (resumed or restarted if a
previous test left it paused or down). They skip when no second dockerd or no sshd can
run here (under CI=true that skip is a failure: conftest).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.targets import SshFiles, Target, TlsFiles
from tests.conftest import ROOT
from tests.engine_harness import ScriptedEngine, shared_engine
from tests.engine_harness import _cannot_run as engine_cannot_run


class _Scripted(ScriptedEngine):
    """A remote engine: its script's start prints facts (url=, sock=, …) as KEY=VALUE."""

    name: str

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.facts: dict[str, str] = {}

    def start(self) -> None:
        out = self.run("start")
        self.facts = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    @property
    def url(self) -> str:
        return self.facts["url"]

    def clear(self) -> None:
        """Remove every container on this PRIVATE engine."""
        self.remove_containers()


class TlsEngine(_Scripted):
    script = ROOT / "scripts" / "tls-engine.sh"
    name = "tls"

    @property
    def certs(self) -> Path:
        return self.dir / "certs"

    @property
    def rogue(self) -> Path:
        """Another CA, and a client pair it signed."""
        return self.dir / "rogue"

    def target(self, tls: TlsFiles | None = None, url: str | None = None) -> Target:
        files = tls or TlsFiles(
            ca=self.certs / "ca.pem", cert=self.certs / "cert.pem", key=self.certs / "key.pem"
        )
        return Target(url or self.url, tls=files)

    def env(self) -> dict[str, str]:
        """What points moorage's DOCKER_HOST engine here."""
        return {
            "MOORAGE_DOCKER_HOST": self.url,
            "MOORAGE_DOCKER_TLS_VERIFY": "1",
            "MOORAGE_DOCKER_CERT_PATH": str(self.certs),
        }

    def secrets(self) -> list[str]:
        """Lines of every private key this engine's tests hold."""
        return _key_lines(self.certs / "key.pem", self.rogue / "key.pem")


class SshEngine(_Scripted):
    script = ROOT / "scripts" / "ssh-engine.sh"
    name = "ssh"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.socket = directory / "engine" / "docker.sock"

    @property
    def client(self) -> Path:
        return self.dir / "client"

    def target(self, ssh: SshFiles | None = None, url: str | None = None) -> Target:
        files = ssh or SshFiles(
            key=self.client / "id_ed25519", known_hosts=self.client / "known_hosts"
        )
        return Target(url or self.url, ssh=files)

    def env(self) -> dict[str, str]:
        return {
            "MOORAGE_DOCKER_HOST": self.url,
            "MOORAGE_DOCKER_SSH_KEY": str(self.client / "id_ed25519"),
            "MOORAGE_DOCKER_SSH_KNOWN_HOSTS": str(self.client / "known_hosts"),
        }

    def sshd_down(self) -> None:
        self.run("sshd-down")

    def sshd_up(self, max_sessions: int = 10) -> None:
        self.run("sshd-up", SSH_ENGINE_MAX_SESSIONS=str(max_sessions))

    @contextlib.contextmanager
    def sshd_stalled(self) -> Iterator[None]:
        """SIGSTOP our listening sshd (connects are queued, no banner comes), then CONT."""
        pid = int((self.dir / "sshd.pid").read_text())
        assert str(self.dir / "sshd_config") in Path(f"/proc/{pid}/cmdline").read_text()
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def engine_down(self) -> None:
        """Stop the engine behind sshd (sshd stays): dial-stdio then fails there."""
        subprocess.run(
            [str(ROOT / "scripts" / "private-engine.sh"), "stop", str(self.dir / "engine")],
            capture_output=True,
            timeout=60,
            check=True,
        )

    def dial_stdio(self) -> int:
        """Remote `docker system dial-stdio` processes running for this engine."""
        return int(self.run("dial-stdio"))

    def session_envs(self) -> list[str]:
        """The environment each SSH session got from sshd (AcceptEnv *), as recorded."""
        files = sorted((self.dir / "sessions").glob("*.env"), key=lambda p: p.stat().st_mtime_ns)
        return [p.read_text() for p in files]

    def secrets(self) -> list[str]:
        return _key_lines(self.client / "id_ed25519", self.client / "other_ed25519")


def _key_lines(*paths: Path) -> list[str]:
    """The base64 body lines of private keys: what must never show anywhere."""
    lines: list[str] = []
    for path in paths:
        lines += [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("-----")]
    return lines


def _cannot_run(kind: type[_Scripted]) -> str | None:
    reason = engine_cannot_run()
    if reason:
        return reason
    if kind is SshEngine and not Path("/usr/sbin/sshd").exists():
        return "no sshd (scripts/system-packages.sh openssh-server)"
    if shutil.which("openssl") is None or shutil.which("ssh-keygen") is None:
        return "no openssl / ssh-keygen (scripts/system-packages.sh)"
    return None


def _shared(kind: type[_Scripted], config: pytest.Config) -> _Scripted:
    return shared_engine(
        config,
        kind.name,
        lambda: kind(Path(f"/tmp/moorage-{kind.name}-{os.getpid()}")),
        lambda: _cannot_run(kind),
        f"{kind.name} engine",
        "it does not start here",
    )


@pytest.fixture
def tls_engine(request: pytest.FixtureRequest) -> Iterator[TlsEngine]:
    engine = _shared(TlsEngine, request.config)
    assert isinstance(engine, TlsEngine)
    engine.start()  # idempotent: resumes a paused one
    yield engine
    engine.start()


@pytest.fixture
def ssh_engine(request: pytest.FixtureRequest) -> Iterator[SshEngine]:
    engine = _shared(SshEngine, request.config)
    assert isinstance(engine, SshEngine)
    engine.start()  # idempotent: resumes a paused engine, brings sshd back
    yield engine
    engine.start()


@pytest.fixture(params=["tls", "ssh"])
def remote(request: pytest.FixtureRequest) -> Iterator[TlsEngine | SshEngine]:
    """Each remote transport in turn."""
    kind: type[TlsEngine] | type[SshEngine] = TlsEngine if request.param == "tls" else SshEngine
    engine = _shared(kind, request.config)
    assert isinstance(engine, TlsEngine | SshEngine)
    engine.start()
    yield engine
    engine.start()
