"""Log follow rate: the engine's own follow endpoint and moorage's SSE stream, side by side.

    .venv/bin/python -m bench.follow_compare [--lines 300000] [--rounds 3] [--port P]

A fresh container (json-file driver, as figure 4) for each burst prints `--lines` lines
of 75 bytes with awk (as `bench/containers.run_printer`) once a trigger file appears.
Each round follows one burst straight from the engine (raw socket, `tail=0`, over TCP
127.0.0.1:2375 and over the unix socket) and one through moorage
(`/v1/containers/{id}/logs/stream?tail=0`), alternating, so both see the same load.
lines/s counts from the first to the last line received. `--port` uses a moorage
already running there (else one is started). Prints the CPU seconds moorage and dockerd
spent on each burst.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import time
from collections.abc import Callable

from bench.logs_follow import Server, cpu_seconds, docker

IMAGE = os.environ.get("MOORAGE_TEST_IMAGE", "moorage-test/busybox:latest")
LABEL = f"moorage.test=bench-{os.getpid()}"
PAD = "x" * 65


def printer(lines: int) -> str:
    awk = f"awk 'BEGIN {{ for (i = 0; i < {lines}; i++) printf \"%08d {PAD}\\n\", i }}'"
    script = f"while [ ! -f /tmp/go0 ]; do usleep 20000; done; {awk}; sleep 600"
    return docker(
        "run", "-d", "--network", "none", "--log-driver", "json-file", "--label", LABEL,
        IMAGE, "sh", "-c", script,
    ).strip()  # fmt: skip


def dockerd_pid() -> int | None:
    out = subprocess.run(["pgrep", "-o", "-x", "dockerd"], capture_output=True, text=True).stdout
    return int(out) if out.strip() else None


def read_burst(
    s: socket.socket, request: bytes, marker: bytes, lines: int, go: Callable[[], object]
) -> float:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    s.sendall(request)
    s.settimeout(120)
    head = s.recv(1 << 16)
    assert b" 200 " in head.split(b"\r\n", 1)[0], head[:300]
    go()
    seen, first, tail = 0, 0.0, b""
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    keep = len(marker) - 1
    while seen < lines:
        n = s.recv_into(buf)
        if not n:
            break
        chunk = tail + bytes(view[:n])
        count = chunk.count(marker)
        if count and not seen:
            first = time.perf_counter()
        seen += count
        tail = chunk[-keep:]
    end = time.perf_counter()
    s.close()
    if seen < lines:
        raise SystemExit(f"stream ended after {seen} of {lines} lines")
    return end - first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--only", choices=["engine", "moorage", "both"], default="both")
    parser.add_argument(
        "--other",
        action="append",
        default=[],
        help="PORT[:PID]: also follow through the moorage on this port (PID: show its CPU)",
    )
    args = parser.parse_args()
    server = Server() if not args.port else None
    port = server.port if server else args.port
    mpid = server.proc.pid if server else None
    dpid = dockerd_pid()
    q = "follow=1&stdout=1&stderr=1&timestamps=1&tail=0"
    engine_req = "GET /containers/{cid}/logs?" + q + " HTTP/1.1\r\nHost: docker\r\n\r\n"
    sse_req = (
        "GET /v1/containers/{cid}/logs/stream?tail=0 HTTP/1.1\r\nHost: x\r\n"
        "Accept: text/event-stream\r\n\r\n"
    )
    # The engine's frames each carry one stamp ("…Z "); the awk lines hold no "Z ".
    log = b"event: log\n"
    kinds: dict[str, tuple[Callable[[], socket.socket], str, bytes]] = {
        "engine tcp ": (lambda: _tcp(2375), engine_req, b"Z "),
        "engine unix": (lambda: _unix("/var/run/docker.sock"), engine_req, b"Z "),
        "moorage SSE": (lambda: _tcp(port), sse_req, log),
    }
    pids: dict[str, int | None] = {"moorage SSE": mpid}
    for other in args.other:
        oport, _, opid = other.partition(":")
        name = f"moorage :{oport}"
        kinds[name] = (lambda p=int(oport): _tcp(p), sse_req, log)  # type: ignore[misc]
        pids[name] = int(opid) if opid else None
    if args.only == "engine":
        kinds = {k: v for k, v in kinds.items() if not k.startswith("moorage")}
    elif args.only == "moorage":
        kinds.pop("engine tcp ")
        kinds.pop("engine unix")
    rates: dict[str, list[float]] = {name: [] for name in kinds}
    try:
        for r in range(args.rounds):
            for name, (connect, req, marker) in kinds.items():
                pid = pids.get(name)
                mc = cpu_seconds(pid) if pid else 0.0
                dc = cpu_seconds(dpid) if dpid else 0.0
                cid = printer(args.lines)
                try:
                    secs = read_burst(
                        connect(),
                        req.format(cid=cid).encode(),
                        marker,
                        args.lines,
                        lambda: docker("exec", cid, "touch", "/tmp/go0"),  # noqa: B023
                    )
                finally:
                    docker("rm", "-f", cid)
                mc = (cpu_seconds(pid) - mc) if pid else 0.0
                dc = (cpu_seconds(dpid) - dc) if dpid else 0.0
                rate = args.lines / secs
                rates[name].append(rate)
                extra = f"moorage CPU {mc:5.2f} s, " if name.startswith("moorage") and pid else ""
                print(
                    f"round {r} {name}: {rate:9,.0f} lines/s ({secs:.2f} s;"
                    f" {extra}dockerd CPU {dc:5.2f} s)",
                    flush=True,
                )
                time.sleep(0.5)
        for name, rs in rates.items():
            rs.sort()
            runs = ", ".join(f"{x:,.0f}" for x in rs)
            print(f"{name}: median {rs[len(rs) // 2]:9,.0f}  all {runs}")
    finally:
        if server:
            server.stop()


def _tcp(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port))


def _unix(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s


if __name__ == "__main__":
    main()
