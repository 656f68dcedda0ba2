"""Bench plumbing: the load generator, the engine's TCP listener, moorage under uvicorn."""

from __future__ import annotations

import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINE_URL = os.environ.get("MOORAGE_BENCH_ENGINE", "http://127.0.0.1:2375")
IMAGE = os.environ.get("MOORAGE_BENCH_IMAGE", "moorage-test/busybox:latest")
LABEL = "moorage.bench"
# Which bench run owns a container (`moorage.bench=<key>`); the smoke test uses its own
# key and adds the test label, so it never touches another run's containers.
BENCH_KEY = os.environ.get("MOORAGE_BENCH_KEY", "1")
EXTRA_LABELS = dict(
    kv.split("=", 1) for kv in os.environ.get("MOORAGE_BENCH_LABELS", "").split(",") if "=" in kv
)


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    """One GET; (status, body). Status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class TcpListener:
    """The engine's loopback TCP listener: used as is, or a socat relay made for the run."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> TcpListener:
        if http_get(f"{ENGINE_URL}/_ping")[0] == 200:
            return self
        socat = shutil.which("socat")
        port = ENGINE_URL.rsplit(":", 1)[-1]
        if socat is None:
            raise SystemExit(
                f"bench: the engine does not answer at {ENGINE_URL}; start dockerd with "
                f"-H tcp://127.0.0.1:{port} (or install socat for a relay)"
            )
        sock = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
        print(f"bench: no engine at {ENGINE_URL}; relaying it to {sock} with socat", flush=True)
        self.proc = subprocess.Popen(
            [socat, f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr", f"UNIX-CONNECT:{sock}"]
        )
        for _ in range(100):
            if http_get(f"{ENGINE_URL}/_ping")[0] == 200:
                return self
            time.sleep(0.05)
        self.__exit__()
        raise SystemExit("bench: socat relay did not come up")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    requests: int
    errors: int  # socket errors plus non-2xx answers
    p99_ms: float = float("nan")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("bench: wrk not found (Debian: apt-get install wrk)")
    return found


def wrk(url: str, *, threads: int, connections: int, seconds: float) -> WrkResult:
    """Run wrk once and read its throughput, median latency and error counts."""
    out = subprocess.run(
        [
            _wrk_binary(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "--timeout",
            "60s",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    p50 = float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")
    m99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    p99 = float(m99.group(1)) * _UNITS[m99.group(2)] if m99 else float("nan")
    reqs = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if m2 := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m2.group(1))
    if m3 := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    ):
        errors += sum(int(g) for g in m3.groups())
    return WrkResult(rps, p50, reqs, errors, p99)


def rss_mb(pid: int) -> float:
    """Resident memory of one process (MB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def engine_connections(pid: int, port: int = 2375) -> int:
    """TCP connections a process holds to the engine's port (moorage on tcp:// only)."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in inodes:  # ESTABLISHED
                count += 1
    return count


class Moorage:
    """moorage under its real server (`moorage serve`: uvicorn, uvloop, httptools)."""

    def __init__(self, env: dict[str, str] | None = None, root: Path | None = None) -> None:
        self.root = root or ROOT  # another checkout: an A/B against an earlier tree
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "MOORAGE_LOG_LEVEL": "warning", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_s = float("nan")

    def start(self) -> Moorage:
        t0 = time.perf_counter()
        # MOORAGE_BENCH_APP=module:app serves another ASGI app the same way (experiments).
        other = os.environ.get("MOORAGE_BENCH_APP")
        cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)]
        if other:
            cmd = [sys.executable, "-m", "uvicorn", other, "--port", str(self.port)]
            cmd += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.root,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # A session of its own, as a server runs: the scheduler's autogroups then
            # share the CPU between moorage and the load generator (and the engine,
            # see scripts/engine-up.sh) instead of counting them as one.
            start_new_session=True,
        )
        deadline = t0 + 120  # a loaded 2-core machine can take a minute to import it
        while time.perf_counter() < deadline:
            if http_get(f"{self.url}/readyz", timeout=1)[0] == 200:
                self.ready_s = time.perf_counter() - t0
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.005)
        self.stop()
        raise SystemExit("bench: moorage did not become ready")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Moorage:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def raise_open_files() -> None:
    """Raise this process's open-file limit to the hard limit (at most 65,536 when
    unlimited): a thousand SSE clients need a thousand sockets; a moorage started from
    here inherits it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
