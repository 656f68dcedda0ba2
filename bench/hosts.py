"""Figure 7: several hosts behind one moorage (issue 12).

7a. `GET /v1/containers?all=true&host=*` over ENGINES real engines (the shared one
    and ENGINES-1 private dockerds, scripts/private-engine.sh) of `count` containers
    each, against the shared engine's own `GET /containers/json?all=1` (which lists at
    least `count`): the same load generator (wrk), alternately, in one run. With
    `--engines 1` the hosts are the shared engine under HOSTS names instead.
7b. One of three hosts stalled (SIGSTOP of a private dockerd): all-up and stalled
    windows alternate `rounds` times (wrk p99 of another host's list and of
    `GET /v1/hosts`; medians of the windows' p99s compared), and how long the stalled
    host takes to be reported `down`, then `up` after SIGCONT.

    python -m bench.hosts [--quick] [--engines 4] [--count 100] [--only a,b]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bench import containers
from bench.figures import Config, Row, _alternate, _fmt, _ratio_row
from bench.tools import ENGINE_URL, ROOT, Moorage, TcpListener, http_get, wrk

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


def _aggregate(
    cfg: Config, label: str, names: list[tuple[str, str]], items: dict[str, int]
) -> list[Row]:
    """`host=*` over `names` (answering at least `items[host]` containers of each host)
    against the shared engine's own list, with the same load generator, alternately."""
    with tempfile.TemporaryDirectory() as tmp:
        path = _hosts_file(Path(tmp), names)
        with Moorage(env={"MOORAGE_HOSTS_FILE": str(path)}) as server:
            url = f"{server.url}/v1/containers?all=true&host=*"

            def complete() -> bool:
                status, body = http_get(url)
                if status != 200:
                    return False
                # Every host's part held; the shared engine's own count moves with
                # others' containers while the bench waits: 90% of it will do.
                seen = Counter(item["host"] for item in json.loads(body))
                return all(seen[n] >= want for n, want in items.items())

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
    return [_ratio_row(label, med(e_rps), med(m_rps), "", ">=", 3.0)]


def fig7_aggregate(cfg: Config, count: int, hosts: int) -> list[Row]:
    """7a on one engine: the shared engine under `hosts` names (`--engines 1`)."""
    return _aggregate(
        cfg,
        f"7a. list host=*, 1 engine as {hosts} hosts x {count} containers: throughput (req/s)",
        [(f"h{i}", SOCKET) for i in range(hosts)],
        {f"h{i}": int(count * 0.9) for i in range(hosts)},
    )


def fig7_engines(cfg: Config, total: int, count: int, engines: int) -> list[Row]:
    """7a as issue 12 asks: the shared engine and `engines - 1` private dockerds
    (scripts/private-engine.sh), `count` containers on each private one (created, not
    started: a listed container costs the engine the same, and a shim per container
    would load this shared machine), always removed with the engine."""
    from tests.engine_harness import PrivateEngine

    privates = [
        PrivateEngine(Path(f"/tmp/moorage-bench-{os.getpid()}-e{i}")) for i in range(engines - 1)
    ]
    try:
        for engine in privates:
            engine.start()

        async def fill() -> None:
            # 8 creates at a time per engine: dockerd 20.10 deadlocked once here on a
            # thousand at once (ENGINE-NOTES).
            await asyncio.gather(
                *(
                    containers.ensure_idle(count, concurrency=8, url=e.url, running_max=0)
                    for e in privates
                )
            )

        print(f"bench: {len(privates)} private engines, {count} containers each…", flush=True)
        asyncio.run(fill())
        names = [("local", SOCKET)] + [(f"pe-{i}", e.url) for i, e in enumerate(privates)]
        return _aggregate(
            cfg,
            f"7a. list host=*, {engines} engines x {count} containers (shared engine: {total})"
            ": throughput (req/s)",
            names,
            {"local": int(total * 0.9)} | {n: count for n, _ in names[1:]},
        )
    finally:
        for engine in privates:
            try:
                asyncio.run(containers.remove(url=engine.url))
            except Exception as exc:  # the wipe below removes its data root anyway
                print(f"bench: removing containers of {engine.url}: {exc}", file=sys.stderr)
            engine.wipe()


def _cpu_s(pid: int) -> float:
    """CPU time (user + system, s) of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _window(url: str, seconds: float, pid: int) -> tuple[float, float]:
    """p99 latency (ms) of `url`, and moorage's CPU per request (ms): wrk, 1 thread, 4
    connections, `seconds` (a process of its own, so the bench's Python does not add
    its pauses to the figure)."""
    cpu = _cpu_s(pid)
    res = wrk(url, threads=1, connections=4, seconds=seconds)
    cpu = _cpu_s(pid) - cpu
    if res.errors:
        raise SystemExit(f"bench: {url} answered {res.errors} errors")
    if not res.requests:  # none finished in the window: wrk reports zeros
        return float("nan"), float("nan")
    return res.p99_ms, cpu * 1000 / res.requests


def _poll_state(url: str, name: str, state: str, since: float, out: list[float]) -> None:
    """Until `name` is reported `state` (appends the seconds since `since`)."""
    while _states(url).get(name) != state:
        time.sleep(0.02)
    out.append(time.monotonic() - since)


def fig7_stall(cfg: Config) -> list[Row]:
    """All-up and stalled windows alternate `rounds` times; the figures compare the
    medians of their p99s (one window each is the noise of a shared machine)."""
    from tests.engine_harness import PrivateEngine

    seconds = 1.0 if cfg.quick else 3.0
    a = PrivateEngine(Path(f"/tmp/moorage-bench-{os.getpid()}-a"))
    b = PrivateEngine(Path(f"/tmp/moorage-bench-{os.getpid()}-b"))
    others_up: list[float] = []
    others_stalled: list[float] = []
    hosts_up: list[float] = []
    hosts_stalled: list[float] = []
    healthz_stalled: list[float] = []  # the control: a route that reads nothing at all
    hosts_cpu: list[float] = []
    downs: list[float] = []
    ups: list[float] = []
    try:
        a.start()
        b.start()
        with tempfile.TemporaryDirectory() as tmp:
            path = _hosts_file(Path(tmp), [("local", SOCKET), ("pe-a", a.url), ("pe-b", b.url)])
            with Moorage(env={"MOORAGE_HOSTS_FILE": str(path)}) as server:
                _until(lambda: set(_states(server.url).values()) == {"up"})
                others = f"{server.url}/v1/containers?all=true&host=local"
                hosts = f"{server.url}/v1/hosts"
                healthz = f"{server.url}/healthz"
                pid = server.pid
                for _ in range(cfg.rounds):
                    others_up.append(_window(others, seconds, pid)[0])
                    hosts_up.append(_window(hosts, seconds, pid)[0])
                    b.pause()
                    poller = threading.Thread(
                        target=_poll_state,
                        args=(server.url, "pe-b", "down", time.monotonic(), downs),
                    )
                    poller.start()
                    others_stalled.append(_window(others, seconds, pid)[0])
                    p99, cpu = _window(hosts, seconds, pid)
                    hosts_stalled.append(p99)
                    hosts_cpu.append(cpu)
                    healthz_stalled.append(_window(healthz, seconds, pid)[0])
                    poller.join(60)
                    b.resume()
                    _poll_state(server.url, "pe-b", "up", time.monotonic(), ups)
    finally:
        a.wipe()
        b.wipe()

    def med(xs: list[float]) -> float:
        seen = [x for x in xs if x == x]  # (a window where nothing finished is nan)
        return statistics.median(seen) if seen else float("nan")

    up, stalled = med(others_up), med(others_stalled)
    ratio = stalled / up if up else float("nan")
    n = f"median of {cfg.rounds} windows"

    def each(xs: list[float]) -> str:
        return " / ".join(_fmt(x) for x in xs)

    return [
        Row(
            f"7b. one of 3 hosts stalled: another host's list p99 (ms), all up / stalled ({n})",
            _fmt(up),
            _fmt(stalled),
            f"{ratio:.2f}x",
            "<= 1.2x",
            "met" if ratio <= 1.2 else "NOT met",
        ),
        Row("7b. the same, each window: all up", "-", each(others_up), "-", "-", "-"),
        Row("7b. the same, each window: stalled", "-", each(others_stalled), "-", "-", "-"),
        Row(
            f"7b. GET /v1/hosts p99 (ms), all up / stalled ({n})",
            _fmt(med(hosts_up)),
            _fmt(med(hosts_stalled)),
            "-",
            "< 20 ms",
            "met" if med(hosts_stalled) < 20 else "NOT met",
        ),
        Row("7b. GET /v1/hosts p99 during each stall", "-", each(hosts_stalled), "-", "-", "-"),
        Row(
            "7b. control: GET /healthz p99 during each stall (asks nothing: the machine's noise)",
            "-",
            each(healthz_stalled),
            "-",
            "-",
            "-",
        ),
        Row(
            "7b. moorage CPU per GET /v1/hosts during the stall (ms, median)",
            "-",
            _fmt(med(hosts_cpu)),
            "-",
            "-",
            "-",
        ),
        Row(
            "7b. stalled host reported down (s after SIGSTOP), worst",
            "-",
            _fmt(max(downs)),
            "-",
            "<= 5 s",
            "met" if max(downs) <= 5 else "NOT met",
        ),
        Row(
            "7b. and up again (s after SIGCONT), worst",
            "-",
            _fmt(max(ups)),
            "-",
            "<= 5 s",
            "met" if max(ups) <= 5 else "NOT met",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    from bench.__main__ import table

    parser = argparse.ArgumentParser(prog="python -m bench.hosts", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--engines",
        type=int,
        default=4,
        help="7a: the shared engine and N-1 private ones (1: the shared one under --hosts names)",
    )
    parser.add_argument("--hosts", type=int, default=3, help="7a with --engines 1")
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
                if args.engines > 1:
                    rows += fig7_engines(cfg, total, args.count, args.engines)
                else:
                    rows += fig7_aggregate(cfg, total, args.hosts)
            if "b" in args.only:
                rows += fig7_stall(cfg)
        finally:
            # The figures first: a removal that times out on a loaded engine must not
            # lose them.
            print(table(rows), flush=True)
            removed = _remove_bench_containers()
    return 0 if removed else 1


def _remove_bench_containers() -> bool:
    try:
        asyncio.run(containers.remove())
    except Exception as exc:
        print(f"bench: removing the bench's containers: {exc!r}", file=sys.stderr)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
