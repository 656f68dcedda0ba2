"""`python -m bench.alerts [--containers N]`: N containers' health changes in a burst.

N containers with a health check on one shared volume (`test -e /shared/ok`, every
2 s) are healthy; one rule watches them (`health: unhealthy`, a receiver on
loopback). Removing the file turns them all unhealthy within one check interval: a
burst of N engine events. The figures: every delivery made (each id once), and the
latency from each engine event (the alert's `time` is the `health_status` event's
time) to its arrival at the receiver, p50 / p99 / max. Target (issue 17): all
delivered, p99 at most 1 s.

Running containers cost this shared machine a shim and a probe exec each every 2 s;
the default is 100. Everything made is labelled `moorage.bench=alerts` and removed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
from aiohttp import web

from bench.tools import IMAGE, Moorage, free_port

LABEL = "moorage.bench=alerts"


def docker(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise SystemExit(f"docker {' '.join(args[:3])}…: {proc.stderr.strip()}")
    return proc.stdout


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(count: int, prefix: str) -> int:
    got: list[tuple[dict[str, object], float, str]] = []
    done = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        got.append((json.loads(body), time.time(), request.headers["X-Moorage-Delivery"]))
        if len({d for _, _, d in got}) >= count:
            done.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    volume = f"{prefix}-shared"
    tmp = Path(tempfile.mkdtemp(prefix="moorage-bench-alerts-"))
    env = {
        "MOORAGE_AUDIT_DB": str(tmp / "moorage.sqlite3"),
        "MOORAGE_WEBHOOK_ALLOW": json.dumps([f"http://127.0.0.1:{port}/"]),
    }
    moorage = Moorage(env)
    try:
        await asyncio.to_thread(docker, "volume", "create", "--label", LABEL, volume)
        await asyncio.to_thread(
            docker, "run", "--rm", "--network", "none", "-v", f"{volume}:/shared", IMAGE,
            "touch", "/shared/ok",
        )  # fmt: skip

        def run(i: int) -> None:
            docker(
                "run", "-d", "--network", "none", "--label", LABEL, "--name", f"{prefix}-{i}",
                "-v", f"{volume}:/shared", "--health-cmd", "test -e /shared/ok",
                "--health-interval", "2s", "--health-retries", "1", IMAGE, "sleep", "3600",
            )  # fmt: skip

        def run_all() -> None:
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(run, range(count)))

        await asyncio.to_thread(run_all)
        flt = ["--filter", f"label={LABEL}", "--filter", "health=healthy", "-q"]
        deadline = time.monotonic() + 300
        while len((await asyncio.to_thread(docker, "ps", *flt)).split()) < count:
            if time.monotonic() > deadline:
                raise SystemExit("bench: the containers did not all turn healthy")
            await asyncio.sleep(1)
        await asyncio.to_thread(moorage.start)
        rule = {
            "name": "bench unhealthy",
            "when": {"kind": "health", "status": ["unhealthy"]},
            "scope": {"names": [f"{prefix}-*"]},
            "target": {"url": f"http://127.0.0.1:{port}/hook", "secret": "bench"},
        }
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.post(f"{moorage.url}/v1/alerts/rules", json=rule)
        if r.status_code != 201:
            raise SystemExit(f"bench: the rule was refused: {r.text}")
        await asyncio.sleep(3)  # the rule is read; nothing is unhealthy yet
        t0 = time.time()
        await asyncio.to_thread(
            docker, "run", "--rm", "--network", "none", "-v", f"{volume}:/shared", IMAGE,
            "rm", "/shared/ok",
        )  # fmt: skip
        try:
            async with asyncio.timeout(120):
                await done.wait()
        except TimeoutError:
            pass
        await asyncio.sleep(2)  # repeats, if any, arrive too
        ids = [d for _, _, d in got]
        lat = [
            at - datetime.fromisoformat(str(alert["time"]).replace("Z", "+00:00")).timestamp()
            for alert, at, _ in got
        ]
        print(f"containers: {count}; deliveries: {len(set(ids))} distinct, {len(ids)} in all")
        if lat:
            spread = max(at for _, at, _ in got) - t0
            print(
                f"engine event -> receiver: p50 {percentile(lat, 0.5) * 1000:.0f} ms, "
                f"p99 {percentile(lat, 0.99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms; "
                f"last arrival {spread:.1f} s after the file was removed"
            )
        met = len(set(ids)) == count and bool(lat) and percentile(lat, 0.99) <= 1.0
        print("target (all delivered, p99 <= 1 s):", "met" if met else "NOT met")
        return 0 if met else 1
    finally:
        await asyncio.to_thread(moorage.stop)
        ids = docker("ps", "-aq", "--filter", f"label={LABEL}", check=False).split()
        if ids:
            docker("rm", "-f", *ids, check=False)
        docker("volume", "rm", "-f", volume, check=False)
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=100)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.containers, f"bench-alerts-{int(time.time())}")))
