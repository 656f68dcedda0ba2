"""`python -m bench` (make bench): moorage against the engine, figure by figure.

    python -m bench                 # every figure, 100 and 1,000 containers
    python -m bench --quick         # seconds, not minutes: the smoke form (make test)
    python -m bench --only 1,6      # some figures
    python -m bench --write         # also rewrite bench/RESULTS.md
    python -m bench --keep          # leave the bench containers for the next run

One load generator (wrk) drives the engine's own API (tcp://127.0.0.1:2375) and
moorage (under `moorage serve`: uvicorn, uvloop, httptools) alternately, with the
same threads, connections and duration, and the table gives the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench import containers
from bench.figures import (
    Config,
    Row,
    fig1_list,
    fig1_state_in_process,
    fig2_get,
    fig3_logs,
    fig4_follow,
    fig5_fanout,
    fig6_start,
)
from bench.tools import ENGINE_URL, Moorage, TcpListener, http_get, raise_open_files

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
NOTES_MARKER = "<!-- notes: kept by --write -->"


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    engine = http_get(f"{ENGINE_URL}/version")[1].decode()
    import json

    ver = json.loads(engine) if engine else {}
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem} GiB RAM, Linux {platform.release()}; "
        f"dockerd {ver.get('Version', '?')} (API {ver.get('ApiVersion', '?')}); "
        f"Python {platform.python_version()}; {wrk.splitlines()[0] if wrk else 'wrk'}"
    )


def table(rows: list[Row]) -> str:
    head = "| figure | engine | moorage | ratio | target | met |\n|---|---|---|---|---|---|\n"
    return head + "".join(
        f"| {r.figure} | {r.engine} | {r.moorage} | {r.ratio} | {r.target} | {r.met} |\n"
        for r in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke form: seconds, not minutes")
    parser.add_argument("--only", default="1,2,3,4,5,6", help="figures to run, e.g. 1,6")
    parser.add_argument("--sizes", default=None, help="container counts for figure 1")
    parser.add_argument("--seconds", type=float, default=None, help="duration of one wrk run")
    parser.add_argument("--rounds", type=int, default=None, help="engine/moorage alternations")
    parser.add_argument("--keep", action="store_true", help="keep the bench containers")
    parser.add_argument("--write", action="store_true", help="rewrite bench/RESULTS.md")
    args = parser.parse_args(argv)

    # Figure 5 holds a thousand connections on both ends (moorage inherits this).
    raise_open_files()
    only = {int(x) for x in args.only.split(",") if x}
    sizes = [int(x) for x in (args.sizes or ("20" if args.quick else "100,1000")).split(",")]
    cfg = Config(
        quick=args.quick,
        seconds=args.seconds or (1 if args.quick else 5),
        rounds=args.rounds or (1 if args.quick else 3),
    )
    rows: list[Row] = []
    started = time.monotonic()
    with TcpListener():
        try:
            ids = asyncio.run(containers.ensure_idle(sizes[0]))
            if 6 in only:
                rows += fig6_start(cfg, asyncio.run(containers.engine_total()))
            for i, size in enumerate(sizes):
                if i:
                    ids = asyncio.run(containers.ensure_idle(size))
                total = asyncio.run(containers.engine_total())
                if 1 in only:
                    with Moorage() as server:
                        time.sleep(0.5)
                        rows += fig1_list(cfg, server, total)
                    rows += fig1_state_in_process(cfg)
                print(table(rows), flush=True)
            with Moorage() as server:
                if 2 in only:
                    rows += fig2_get(cfg, server, ids[0])
                if 3 in only:
                    rows += fig3_logs(cfg, server)
                if 4 in only:
                    rows += fig4_follow(cfg, server)
            if 5 in only:
                rows += fig5_fanout(cfg)
        finally:
            if not args.keep:
                removed = asyncio.run(containers.remove())
                print(f"bench: removed {removed} bench containers", flush=True)
    out = table(rows)
    print(out)
    print(f"bench: {time.monotonic() - started:.0f} s", flush=True)
    if args.write:
        # Hand-written notes below the marker survive a rewrite.
        old = RESULTS.read_text() if RESULTS.exists() else ""
        notes = NOTES_MARKER + old.split(NOTES_MARKER, 1)[1] if NOTES_MARKER in old else ""
        RESULTS.write_text(
            "# Benchmark results\n\n"
            f"`make bench` ({'quick' if args.quick else 'full'}), "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n"
            f"Machine: {machine()}.\n\n" + out + ("\n" + notes if notes else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
