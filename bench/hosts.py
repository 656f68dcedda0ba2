"""Figure 7: several hosts behind one moorage (issue 12).

7a. `GET /v1/containers?all=true&host=*` over HOSTS hosts of `count` containers each,
    against the engine's own `GET /containers/json?all=1` of `count`: the same load
    generator, alternately. The hosts are the shared engine under HOSTS names (each
    its own host: its own pool, event reader and container state), so the answer
    holds HOSTS x count containers; what is measured is moorage's aggregate path.
7b. One of three hosts stalled (SIGSTOP of a private dockerd, scripts/private-engine.sh):
    the other hosts' list p99 with all up and during the stall, `GET /v1/hosts` p99
    during the stall, and how long the stalled host takes to be reported `down`, then
    `up` after SIGCONT.

    python -m bench.hosts [--quick] [--hosts 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import containers
from bench.figures import Config, Row, _alternate, _fmt, _ratio_row
from bench.tools import ENGINE_URL, ROOT, Moorage, TcpListener, http_get

SOCKET = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def _hosts_file(directory: Path, names: list[tuple[str, str]]) -> Path:
    path = directory / "hosts.toml"
    path.write_text(
        "\n".join(
            f'[[hosts]]\nname = "{n}"\nurl = "{u}"\n' + ("default = true\n" if i == 0 else "")
            for i, (n, u) in enumerate(names)
        )
    )
    return path


def _until(check: object, within: float = 60) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        if check():  # type: ignore[operator]
            return time.monotonic() - t0
        time.sleep(0.05)
    raise SystemExit("bench: hosts did not reach the expected state")


def _states(url: str) -> dict[str, str]:
    status, body = http_get(f"{url}/v1/hosts")
    return {h["name"]: h["state"] for h in json.loads(body)} if status == 200 else {}


def fig7_aggregate(cfg: Config, count: int, hosts: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        path = _hosts_file(Path(tmp), [(f"h{i}", SOCKET) for i in range(hosts)])
        with Moorage(env={"MOORAGE_HOSTS_FILE": str(path)}) as server:
            url = f"{server.url}/v1/containers?all=true&host=*"

            def complete() -> bool:
                status, body = http_get(url)
                return status == 200 and len(json.loads(body)) >= hosts * count

            _until(lambda: set(_states(server.url).values()) == {"up"})
            _until(complete)
            e_rps, m_rps, _, _ = _alternate(
                cfg,
                f"{ENGINE_URL}/containers/json?all=1",
                url,
                threads=cfg.threads,
                connections=cfg.connections,
            )
    med = statistics.median
    return [
        _ratio_row(
            f"7a. list host=*, {hosts} hosts x {count} containers: throughput (req/s)",
            med(e_rps),
            med(m_rps),
            "",
            ">=",
            3.0,
        )
    ]


async def _p99(client: httpx.AsyncClient, path: str, seconds: float) -> float:
    """p99 latency (ms) of `path`, 4 clients back to back for `seconds`."""
    lat: list[float] = []
    end = time.monotonic() + seconds

    async def one() -> None:
        while time.monotonic() < end:
            t0 = time.perf_counter()
            r = await client.get(path)
            lat.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                raise SystemExit(f"bench: {path} answered {r.status_code}")

    await asyncio.gather(*(one() for _ in range(4)))
    lat.sort()
    return lat[min(len(lat) - 1, int(len(lat) * 0.99))]


def fig7_stall(cfg: Config) -> list[Row]:
    from tests.engine_harness import PrivateEngine

    seconds = 2.0 if cfg.quick else 5.0
    a = PrivateEngine(Path(f"/tmp/moorage-bench-{os.getpid()}-a"))
    b = PrivateEngine(Path(f"/tmp/moorage-bench-{os.getpid()}-b"))
    try:
        a.start()
        b.start()
        with tempfile.TemporaryDirectory() as tmp:
            path = _hosts_file(Path(tmp), [("local", SOCKET), ("pe-a", a.url), ("pe-b", b.url)])
            with Moorage(env={"MOORAGE_HOSTS_FILE": str(path)}) as server:
                _until(lambda: set(_states(server.url).values()) == {"up"})

                async def run() -> tuple[float, float, float, float, float]:
                    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:

                        async def until(state: str, since: float) -> float:
                            # Another process's state: polled.
                            while (await c.get("/v1/hosts/pe-b")).json()["state"] != state:  # noqa: ASYNC110
                                await asyncio.sleep(0.02)
                            return time.monotonic() - since

                        others = "/v1/containers?all=true&host=local"
                        up = await _p99(c, others, seconds)
                        b.pause()
                        down = asyncio.create_task(until("down", time.monotonic()))
                        stalled = await _p99(c, others, seconds)
                        hosts = await _p99(c, "/v1/hosts", seconds)
                        down_s = await down
                        b.resume()
                        up_s = await until("up", time.monotonic())
                        return up, stalled, hosts, down_s, up_s

                up, stalled, hosts_p99, down_s, up_s = asyncio.run(run())
    finally:
        a.wipe()
        b.wipe()
    ratio = stalled / up if up else float("nan")
    return [
        Row(
            "7b. one of 3 hosts stalled: another host's list p99 (ms), all up / stalled",
            _fmt(up),
            _fmt(stalled),
            f"{ratio:.2f}x",
            "<= 1.2x",
            "met" if ratio <= 1.2 else "NOT met",
        ),
        Row(
            "7b. GET /v1/hosts p99 during the stall (ms)",
            "-",
            _fmt(hosts_p99),
            "-",
            "< 20 ms",
            "met" if hosts_p99 < 20 else "NOT met",
        ),
        Row(
            "7b. stalled host reported down (s after SIGSTOP)",
            "-",
            _fmt(down_s),
            "-",
            "<= 5 s",
            "met" if down_s <= 5 else "NOT met",
        ),
        Row(
            "7b. and up again (s after SIGCONT)",
            "-",
            _fmt(up_s),
            "-",
            "<= 5 s",
            "met" if up_s <= 5 else "NOT met",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    from bench.__main__ import table

    parser = argparse.ArgumentParser(prog="python -m bench.hosts", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--only", default="a,b", help="a (aggregate), b (stall)")
    args = parser.parse_args(argv)
    cfg = Config(quick=args.quick, seconds=1 if args.quick else 5, rounds=1 if args.quick else 3)
    sys.path.insert(0, str(ROOT))  # tests.engine_harness drives the private engines
    rows: list[Row] = []
    with TcpListener():
        try:
            if "a" in args.only:
                asyncio.run(containers.ensure_idle(args.count))
                total = asyncio.run(containers.engine_total())
                rows += fig7_aggregate(cfg, total, args.hosts)
            if "b" in args.only:
                rows += fig7_stall(cfg)
        finally:
            asyncio.run(containers.remove())
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
