"""Service log stream on the two-node swarm: every line once, in order, and its lag.

    .venv/bin/python -m bench.swarm_logs                  # 4 tasks, 1,000 lines/s, 20 s
    .venv/bin/python -m bench.swarm_logs --rate 2000 --seconds 30
    .venv/bin/python -m bench.swarm_logs --via both        # A/B: manager only, hosts file

scripts/swarm-up.sh starts the swarm (two private engines); moorage runs under uvicorn
pointed at the manager; a service of 4 tasks (2 per node) prints numbered lines at
`--rate` lines/s in all. One SSE client follows `GET /v1/services/{id}/logs/stream?tail=0`.
Lag is the time a line is received minus its engine timestamp (one host, one clock).
`--via manager` points moorage at the manager only (every line through the manager's
log broker); `--via hosts` gives it a hosts file naming both nodes' engines, so the
worker's tasks are followed on the worker's own engine; `--via both` runs one after the
other on the same swarm.
After the run the history route is read: over the span the client saw, the stream must
hold exactly the history's lines in the history's order (no repeat, no gap, no line out
of timestamp order). Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.logs_follow import free_port
from tests.swarm_helpers import hosts_toml, start_service, worker_known


class Server:
    """moorage under uvicorn, pointed at the swarm's manager."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "app.main:app",
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
            ],
            cwd=ROOT,
            env=self.env,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit("moorage did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


ROOT = Path(__file__).resolve().parent.parent


def _key(event_id: str) -> tuple[int, str, int]:
    ns, task, seq = event_id.split("-")
    return int(ns), task, int(seq)


async def follow(url: str, seconds: float) -> list[tuple[float, str, dict[str, Any]]]:
    got: list[tuple[float, str, dict[str, Any]]] = []
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=None) as client, client.stream("GET", url) as resp:
        resp.raise_for_status()
        event, ident = "", ""
        async for line in resp.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("id: "):
                ident = line[4:]
            elif line.startswith("data: ") and event == "log":
                got.append((time.time(), ident, json.loads(line[6:])))
            elif line == "":
                event, ident = "", ""
                if time.monotonic() > deadline:
                    break
    return got


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


async def measure(url: str, rate: int, seconds: float, tasks: int) -> dict[str, Any]:
    per_task = rate / tasks
    # Ten lines per sleep: a busybox `usleep` is a fork, too slow to pace each line.
    pause = max(1, int(10 * 1_000_000 / per_task))
    script_sh = (
        "i=0; while true; do for _ in 0 1 2 3 4 5 6 7 8 9; do i=$((i+1)); "
        f'echo "$SLOT $i"; done; usleep {pause}; done'
    )
    async with httpx.AsyncClient(base_url=url, timeout=120) as c:
        name = await start_service(c, "bench-logs", script_sh, tasks, within=120)
        try:
            got = await follow(f"{url}/v1/services/{name}/logs/stream?tail=0", seconds)
            await asyncio.sleep(1)
            history = (await c.get(f"/v1/services/{name}/logs")).json()
            listed = (await c.get("/v1/tasks", params={"service": name})).json()
        finally:
            await c.delete(f"/v1/services/{name}")
    keys = [_key(i) for _, i, _ in got]
    lags = [recv - _key(i)[0] / 1e9 for recv, i, _ in got]
    span = [h for h in history if keys and keys[0] <= _key(h["id"]) <= keys[-1]]
    stream_ids = [i for _, i, _ in got]
    history_ids = [h["id"] for h in span]
    wall = got[-1][0] - got[0][0] if len(got) > 1 else 0.0
    return {
        "tasks": tasks,
        "nodes": len({t["node_id"] for t in listed}),
        "rate_asked": rate,
        "lines": len(got),
        "lines_per_s": round(len(got) / wall) if wall else 0,
        "out_of_order": sum(1 for a, b in itertools.pairwise(keys) if b <= a),
        "repeats": len(stream_ids) - len(set(stream_ids)),
        "missing": len(set(history_ids) - set(stream_ids)),
        "same_as_history": stream_ids == history_ids,
        "lag_ms_p50": round(pct(lags, 50) * 1000, 1),
        "lag_ms_p99": round(pct(lags, 99) * 1000, 1),
        "lag_ms_max": round(max(lags, default=0) * 1000, 1),
    }


def _env(via: str, root: Path, engines: dict[str, str]) -> dict[str, str]:
    if via == "manager":
        return {"MOORAGE_DOCKER_HOST": engines["MANAGER"]}
    hosts = root / "hosts.toml"
    hosts.write_text(hosts_toml(engines["MANAGER"], engines["WORKER"]))
    return {"MOORAGE_HOSTS_FILE": str(hosts)}


def _wait_worker_known(url: str) -> None:
    deadline = time.monotonic() + 60
    while not worker_known(url):
        if time.monotonic() > deadline:
            raise SystemExit("the worker host's swarm node id was not read")
        time.sleep(0.3)


def run(rate: int, seconds: float, tasks: int, via: str = "manager") -> dict[str, Any]:
    root = Path(f"/tmp/moorage-bench-swarm-{os.getpid()}")
    script = str(ROOT / "scripts" / "swarm-up.sh")
    results: dict[str, Any] = {}
    try:
        up = subprocess.run([script, "up", str(root)], capture_output=True, text=True, check=True)
        engines = dict(x.split("=", 1) for x in up.stdout.split())
        for one in ("manager", "hosts") if via == "both" else (via,):
            server = Server(_env(one, root, engines))
            try:
                server.start()
                if one == "hosts":
                    _wait_worker_known(server.url)
                results[one] = {
                    "via": one,
                    **asyncio.run(measure(server.url, rate, seconds, tasks)),
                }
            finally:
                server.stop()
    finally:
        subprocess.run([script, "down", str(root)], capture_output=True, check=False)
    return results[via] if via != "both" else results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000, help="lines/s, all tasks together")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--via", choices=("manager", "hosts", "both"), default="manager")
    args = parser.parse_args(argv)
    result = run(args.rate, args.seconds, args.tasks, args.via)
    print(json.dumps(result, indent=2))
    each = list(result.values()) if args.via == "both" else [result]
    ok = all(r["same_as_history"] and r["lag_ms_p99"] <= 250 for r in each)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
