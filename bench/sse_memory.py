"""Memory per SSE subscriber (issue 6, figure 5's memory half, without log traffic).

`python -m bench.sse_memory [-n 1000] [--runs 3] [--trace]`

Starts moorage the way users run it (`moorage serve`, bench/tools.py `Moorage`), one
quiet running container (`sleep`), then opens N raw-socket SSE clients on its
`/logs/stream?tail=0`, waits until every one has its headers and its first bytes
(the `retry:` hint), and reports moorage's RSS growth per connection. A short warm-up
(a few streams opened and closed) first, so one-time costs (imports, first-request
caches, the hub itself) are not counted.

`--trace` serves the same app under tracemalloc (started after the imports) and diffs
snapshots taken before and after the N connections: which lines hold the memory.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sys
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

from app.engine import Engine
from app.settings import Settings
from bench.tools import IMAGE, Moorage, raise_open_files, rss_mb

RUN_ID = os.environ.get("MOORAGE_TEST_RUN", f"ssemem-{uuid.uuid4().hex[:8]}")
SNAPSHOT_DIR = Path(os.environ.get("MOORAGE_BENCH_SNAPSHOTS", "/tmp"))


# ---------------------------------------------------------------------------
# The traced server (imported by uvicorn in the moorage process, with --trace)


def _dump_snapshot(signum: int, frame: Any) -> None:
    gc.collect()
    path = SNAPSHOT_DIR / f"sse-memory-{os.getpid()}-{time.monotonic_ns()}.snap"
    tracemalloc.take_snapshot().dump(str(path))
    (SNAPSHOT_DIR / f"sse-memory-{os.getpid()}.last").write_text(str(path))


def __getattr__(name: str) -> Any:
    """`bench.sse_memory:traced_app`: the app, with SIGUSR1 dumping a tracemalloc snapshot."""
    if name != "traced_app":
        raise AttributeError(name)
    from app.main import create_app

    signal.signal(signal.SIGUSR1, _dump_snapshot)
    app = create_app()
    tracemalloc.start(int(os.environ.get("MOORAGE_BENCH_TRACE_FRAMES", "8")))  # after imports
    return app


# ---------------------------------------------------------------------------
# The clients


async def _open(host: str, port: int, path: str) -> asyncio.StreamWriter:
    """One SSE client, returned once it has the headers and the first body bytes."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    buf = b""
    while b"retry: " not in buf:
        chunk = await reader.read(4096)
        if not chunk:
            raise RuntimeError(f"stream closed early: {buf[:200]!r}")
        buf += chunk
    if not buf.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"not a 200: {buf[:200]!r}")
    return writer


async def _open_many(
    url: str, path: str, n: int, concurrency: int = 64
) -> list[asyncio.StreamWriter]:
    host, _, port = url.removeprefix("http://").partition(":")
    sem = asyncio.Semaphore(concurrency)

    async def one() -> asyncio.StreamWriter:
        async with sem:
            return await _open(host, int(port), path)

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def _close_all(writers: list[asyncio.StreamWriter]) -> None:
    for w in writers:
        w.close()
    await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)


def _settled_rss(pid: int, seconds: float = 1.5) -> float:
    """RSS once it stops moving (sampled for `seconds`): the last sample."""
    time.sleep(seconds)
    return rss_mb(pid)


# ---------------------------------------------------------------------------
# One measurement


async def _container() -> str:
    engine = Engine(Settings())
    try:
        doc = await engine.json(
            "POST",
            "containers/create",
            json={
                "Image": IMAGE,
                "Cmd": ["sleep", "3600"],
                "Labels": {"moorage.test": RUN_ID, "moorage.bench": "sse-memory"},
            },
        )
        cid: str = doc["Id"]
        await engine.json("POST", f"containers/{cid}/start")
        return cid
    finally:
        await engine.close()


async def _remove(cid: str) -> None:
    engine = Engine(Settings())
    try:
        await engine.json("DELETE", f"containers/{cid}", params={"force": True})
    finally:
        await engine.close()


def measure(server: Moorage, cid: str, n: int, trace: bool) -> dict[str, float]:
    path = f"/v1/containers/{cid}/logs/stream?tail=0"

    async def run() -> dict[str, float]:
        # Warm-up: the first streams pay for imports, caches and the hub.
        await _close_all(await _open_many(server.url, path, 20))
        await asyncio.sleep(0.5)
        warm = await _open_many(server.url, path, 5)  # the hub stays open across the run
        base = _settled_rss(server.pid)
        if trace:
            before = _snapshot(server.pid, "before")
        t0 = time.perf_counter()
        writers = await _open_many(server.url, path, n)
        opened = time.perf_counter() - t0
        peak = _settled_rss(server.pid)
        result = {"base_mb": base, "peak_mb": peak, "open_s": opened}
        if trace:
            after = _snapshot(server.pid, "after")
            _report_trace(before, after, n)
        await _close_all(writers)
        await asyncio.sleep(1.0)
        result["after_close_mb"] = rss_mb(server.pid)
        await _close_all(warm)
        return result

    return asyncio.run(run())


def _snapshot(pid: int, label: str) -> tracemalloc.Snapshot:
    marker = SNAPSHOT_DIR / f"sse-memory-{pid}.last"
    marker.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if time.monotonic() > deadline:
            raise SystemExit("bench: no snapshot from the server")
        time.sleep(0.1)
    path = Path(marker.read_text())
    snap = tracemalloc.Snapshot.load(str(path))
    marker.unlink()
    path.replace(SNAPSHOT_DIR / f"sse-memory-{label}.snap")  # kept for a closer look
    return snap


def _report_trace(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, n: int) -> None:
    stats = after.compare_to(before, "traceback")
    total = sum(s.size_diff for s in stats)
    print(f"\ntracemalloc: +{total / n:,.0f} B per connection (Python objects)", flush=True)
    for s in stats[:40]:
        if s.size_diff < n * 100:
            break
        print(f"  {s.size_diff / n:8,.0f} B/conn  {s.count_diff / n:6.1f} blocks/conn")
        for line in s.traceback.format(limit=6, most_recent_first=True)[:12]:
            print("      " + line.strip())
    print("\nby file:")
    for s in after.compare_to(before, "filename")[:20]:
        where = s.traceback[0].filename
        print(f"  {s.size_diff / n:8,.0f} B/conn  {s.count_diff / n:6.1f}  {where}")
    by_line = after.compare_to(before, "lineno")
    print("\nby line:")
    for s in by_line[:60]:
        print(f"  {s.size_diff / n:8,.0f} B/conn  {s.count_diff / n:6.1f}  {s.traceback[0]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sse_memory", description=__doc__)
    parser.add_argument("-n", type=int, default=1000, help="SSE clients (default 1000)")
    parser.add_argument("--runs", type=int, default=1, help="fresh moorage per run")
    parser.add_argument("--trace", action="store_true", help="tracemalloc diff in the server")
    args = parser.parse_args(argv)

    raise_open_files()
    env: dict[str, str] = {}
    if args.trace:
        os.environ["MOORAGE_BENCH_APP"] = "bench.sse_memory:traced_app"
    cid = asyncio.run(_container())
    growths: list[float] = []
    try:
        for i in range(args.runs):
            with Moorage(env=env) as server:
                res = measure(server, cid, args.n, args.trace)
            growth = res["peak_mb"] - res["base_mb"]
            growths.append(growth)
            print(
                f"run {i + 1}: {args.n} streams open in {res['open_s']:.1f} s; RSS "
                f"{res['base_mb']:.1f} -> {res['peak_mb']:.1f} MB (+{growth:.1f} MB, "
                f"{growth * 1024 * 1024 / args.n:,.0f} B/conn); after close "
                f"{res['after_close_mb']:.1f} MB",
                flush=True,
            )
    finally:
        asyncio.run(_remove(cid))
    if growths:
        growths.sort()
        mid = growths[len(growths) // 2]
        print(
            f"median: +{mid:.1f} MB for {args.n} streams = {mid * 1024 * 1024 / args.n:,.0f} "
            f"B/conn (target: <= 60 MB for 1000)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
