"""The bench's containers: labelled `moorage.bench=1`, reused across runs, removed at the end.

Up to `RUNNING` of them run `sleep 3600`; the rest are created and not started
(a listed container costs the engine about the same either way, and a thousand
running ones would cost this shared 2-core machine a thousand shims).
"""

from __future__ import annotations

import asyncio
from typing import Any

from app.engine import Engine
from app.settings import Settings
from bench.tools import BENCH_KEY, EXTRA_LABELS, IMAGE, LABEL

RUNNING = 100


async def _bench_ids(engine: Engine, kind: str | None = None) -> list[str]:
    """The bench's containers, running ones first."""
    labels = [f"{LABEL}={BENCH_KEY}"] + ([f"{LABEL}.kind={kind}"] if kind else [])
    docs: list[dict[str, Any]] = await engine.json(
        "GET", "containers/json", params={"all": True, "filters": {"label": labels}}
    )
    docs.sort(key=lambda d: d.get("State") != "running")
    return [d["Id"] for d in docs]


async def _create(engine: Engine, start: bool, kind: str, cmd: list[str]) -> str:
    doc = await engine.json(
        "POST",
        "containers/create",
        json={
            "Image": IMAGE,
            "Cmd": cmd,
            "Labels": {**EXTRA_LABELS, LABEL: BENCH_KEY, f"{LABEL}.kind": kind},
            "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {}}},
        },
    )
    cid: str = doc["Id"]
    if start:
        await engine.json("POST", f"containers/{cid}/start")
    return cid


def _engine(url: str | None) -> Engine:
    """The shared engine (DOCKER_HOST), or the engine at `url` (a private one)."""
    return Engine(Settings() if url is None else Settings(MOORAGE_DOCKER_HOST=url))


async def ensure_idle(
    count: int, concurrency: int = 16, url: str | None = None, running_max: int = RUNNING
) -> list[str]:
    """Exactly `count` idle bench containers (reused when present, surplus removed) on
    the engine at `url` (default: the shared one); up to `running_max` of them run."""
    engine = _engine(url)
    try:
        have = await _bench_ids(engine, "idle")
        running = len(
            await engine.json(
                "GET",
                "containers/json",
                params={"filters": {"label": [f"{LABEL}={BENCH_KEY}", f"{LABEL}.kind=idle"]}},
            )
        )
        sem = asyncio.Semaphore(concurrency)

        async def drop(cid: str) -> None:
            async with sem:
                await engine.json("DELETE", f"containers/{cid}", params={"force": True})

        if len(have) > count:
            await asyncio.gather(*(drop(cid) for cid in have[count:]))
            have = have[:count]
            running = min(running, count)

        async def one(i: int) -> str:
            async with sem:
                return await _create(engine, running + i < running_max, "idle", ["sleep", "3600"])

        missing = max(0, count - len(have))
        if missing:
            print(f"bench: creating {missing} containers…", flush=True)
            have += await asyncio.gather(*(one(i) for i in range(missing)))
            await asyncio.sleep(1 if count <= 50 else 5)  # let the engine settle
        return have
    finally:
        await engine.close()


async def engine_total() -> int:
    """Every container the engine lists (others' too: they cost its list as well)."""
    engine = Engine(Settings())
    try:
        return len(await engine.json("GET", "containers/json", params={"all": True}))
    finally:
        await engine.close()


async def run_printer(lines: int, line_bytes: int = 75, delay: float = 0.0) -> str:
    """A container that prints `lines` distinct lines as fast as it can, then exits."""
    pad = "x" * max(1, line_bytes - 10)
    script = f'BEGIN {{ for (i = 0; i < {lines}; i++) printf "%08d {pad}\\n", i }}'
    cmd = ["sh", "-c", f"sleep {delay}; exec awk '{script}'"] if delay else ["awk", script]
    engine = Engine(Settings())
    try:
        return await _create(engine, True, "printer", cmd)
    finally:
        await engine.close()


async def run_ticker(rate: int, seconds: float) -> str:
    """A container printing about `rate` lines a second for `seconds` (batches of 10).

    Line k reads `tick-k` (`$i$j` is i*10+j), so a client can check the order.
    """
    batches = int(rate * seconds / 10)
    pause_us = int(1_000_000 * 10 / rate)
    script = (
        f"i=0; while [ $i -lt {batches} ]; do "
        f"for j in 0 1 2 3 4 5 6 7 8 9; do echo tick-$i$j; done; "
        f"usleep {pause_us}; i=$((i+1)); done"
    )
    engine = Engine(Settings())
    try:
        return await _create(engine, True, "ticker", ["sh", "-c", f"sleep 2; {script}"])
    finally:
        await engine.close()


async def wait_exit(cid: str) -> None:
    engine = Engine(Settings())
    try:
        await engine.json("POST", f"containers/{cid}/wait", long=True)
    finally:
        await engine.close()


async def remove(kind: str | None = None, url: str | None = None) -> int:
    """Remove the bench's containers (all of them, or one kind) from the engine at `url`
    (default: the shared one)."""
    engine = _engine(url)
    try:
        ids = await _bench_ids(engine, kind)
        sem = asyncio.Semaphore(16)

        async def one(cid: str) -> None:
            async with sem:
                await engine.json("DELETE", f"containers/{cid}", params={"force": True})

        await asyncio.gather(*(one(cid) for cid in ids))
        return len(ids)
    finally:
        await engine.close()
