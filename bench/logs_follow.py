"""Logs throughput: the live SSE stream and the history route, against a real uvicorn.

    .venv/bin/python -m bench.logs_follow               # follow + history, defaults
    .venv/bin/python -m bench.logs_follow follow --lines 300000
    .venv/bin/python -m bench.logs_follow history --lines 200000

follow:  a container waits, then prints `seq 1 N` as fast as it can while one SSE
         client follows `GET /v1/containers/{id}/logs/stream?tail=0`; lines/s counts
         `event: log` records from the first to the last. For reference, the same
         burst read straight from the engine's follow endpoint (frames/s).
history: `GET /v1/containers/{id}/logs` (text, then NDJSON) of N lines, against
         `docker logs` of the same container (wall time, best of 3).

Containers carry the label `moorage.test=bench-<pid>` and are removed at the end.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGE = os.environ.get("MOORAGE_TEST_IMAGE", "moorage-test/busybox:latest")
LABEL = f"moorage.test=bench-{os.getpid()}"
SOCK = "/var/run/docker.sock"


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], check=True, capture_output=True, text=True, timeout=600
    ).stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """moorage under uvicorn (uvloop + httptools when installed), as `moorage serve`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "app.main:app",
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
            ],
            cwd=ROOT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                status, _ = http_get(self.port, "/readyz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit("moorage did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def http_get(port: int, path: str, headers: str = "") -> tuple[int, bytes]:
    """A response (status, its first 64 KiB), with a raw socket; the rest is read and dropped."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode())
        head = s.recv(1 << 16)
        buf = bytearray(1 << 20)
        while s.recv_into(buf):
            pass
    return int(head.split(b" ", 2)[1]), head


def container(script: str) -> str:
    return docker(
        "run", "-d", "--network", "none", "--label", LABEL, IMAGE, "sh", "-c", script
    ).strip()  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def follow_sse(port: int, cid: str, lines: int) -> tuple[float, int]:
    """Follow with one SSE client; start the burst; (seconds first→last line, bytes)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    path = f"/v1/containers/{cid}/logs/stream?tail=0"
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
    s.settimeout(120)
    head = s.recv(1 << 16)
    assert head.startswith(b"HTTP/1.1 200"), head[:300]
    docker("exec", cid, "touch", "/tmp/go")
    seen, total, first, tail = 0, 0, 0.0, b""
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    while seen < lines:
        n = s.recv_into(buf)
        if not n:
            break
        total += n
        chunk = tail + bytes(view[:n])
        count = chunk.count(b"event: log\n")
        if count and not seen:
            first = time.perf_counter()
        seen += count
        tail = chunk[-11:]
    end = time.perf_counter()
    s.close()
    if seen < lines:
        raise SystemExit(f"stream ended after {seen} of {lines} lines")
    return end - first, total


def follow_engine(cid: str, lines: int) -> float:
    """The same burst straight from the engine's follow endpoint: (seconds)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(SOCK)
    q = "follow=1&stdout=1&stderr=1&timestamps=1&tail=0"
    s.sendall(f"GET /containers/{cid}/logs?{q} HTTP/1.1\r\nHost: docker\r\n\r\n".encode())
    s.settimeout(120)
    s.recv(1 << 16)
    docker("exec", cid, "touch", "/tmp/go")
    seen, first, tail = 0, 0.0, b""
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    while seen < lines:
        n = s.recv_into(buf)
        if not n:
            break
        chunk = tail + bytes(view[:n])
        count = chunk.count(b"Z ")  # one stamp per line (short lines: one frame each)
        if count and not seen:
            first = time.perf_counter()
        seen += count
        tail = chunk[-1:]
    end = time.perf_counter()
    s.close()
    return end - first


BURST = "while [ ! -f /tmp/go ]; do sleep 0.05; done; seq 1 {n}; sleep 600"


def bench_follow(server: Server, lines: int) -> None:
    cid = container(BURST.format(n=lines))
    try:
        secs = follow_engine(cid, lines)
        print(f"engine follow (reference): {lines} lines in {secs:.2f} s = {lines / secs:,.0f}/s")
    finally:
        docker("rm", "-f", cid)
    cid = container(BURST.format(n=lines))
    try:
        cpu = cpu_seconds(server.proc.pid)
        secs, size = follow_sse(server.port, cid, lines)
        cpu = cpu_seconds(server.proc.pid) - cpu
        rate = lines / secs
        print(
            f"moorage SSE follow: {lines} lines in {secs:.2f} s = {rate:,.0f} lines/s"
            f" ({size / secs / 1e6:.1f} MB/s); moorage CPU {cpu:.2f} s ="
            f" {cpu / lines * 1e6:.1f} us/line (one free core: {lines / cpu:,.0f} lines/s)"
        )
    finally:
        docker("rm", "-f", cid)


def timed(fn: Callable[..., object], *args: object, pid: int | None = None) -> tuple[float, float]:
    """Best wall time of 5 runs, and the least CPU time moorage spent on one."""
    best, cpu_best = float("inf"), float("inf")
    for _ in range(5):
        cpu = cpu_seconds(pid) if pid else 0.0
        t = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t)
        if pid:
            cpu_best = min(cpu_best, cpu_seconds(pid) - cpu)
    return best, cpu_best


def bench_history(server: Server, lines: int) -> None:
    cid = container(f"seq 1 {lines}")
    try:
        docker("wait", cid)

        def cli(*flags: str) -> None:
            subprocess.run(
                ["docker", "logs", *flags, cid], check=True, stdout=subprocess.DEVNULL
            )  # fmt: skip

        def get(path: str, headers: str = "") -> None:
            status, body = http_get(server.port, path, headers)
            assert status == 200, body[:300]

        path = f"/v1/containers/{cid}/logs"
        pid = server.proc.pid
        ref, _ = timed(cli)
        ref_ts, _ = timed(cli, "--timestamps")
        print(f"history of {lines} lines (best of 5; moorage CPU: least of 5):")
        print(f"  docker logs               {ref:6.2f} s")
        print(f"  docker logs --timestamps  {ref_ts:6.2f} s")
        for label, args, base in (
            ("text", (path,), ref),
            ("text, timestamps", (path + "?timestamps=true",), ref_ts),
            ("NDJSON", (path, "Accept: application/x-ndjson\r\n"), ref_ts),
        ):
            wall, cpu = timed(get, *args, pid=pid)
            print(
                f"  {label:24s}  {wall:6.2f} s  ({wall / base:.2f}x docker logs"
                f"{' -t' if base is ref_ts else ''}); moorage CPU {cpu:.2f} s"
            )
    finally:
        docker("rm", "-f", cid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=["follow", "history", "all"], default="all")
    parser.add_argument("--lines", type=int, default=0, help="300000 follow, 200000 history")
    args = parser.parse_args()
    server = Server()
    try:
        if args.what in ("follow", "all"):
            bench_follow(server, args.lines or 300_000)
        if args.what in ("history", "all"):
            bench_history(server, args.lines or 200_000)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
