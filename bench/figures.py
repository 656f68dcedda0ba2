"""The figures of issue 6, each measured against the engine on the same machine.

Every figure returns table rows. A figure whose moorage route does not answer on
this build (404) is reported as `n/a (route missing)` rather than as a number.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from app.state import _epoch
from bench import containers
from bench.tools import ENGINE_URL, Moorage, engine_connections, http_get, rss_mb, wrk

# The moorage routes measured (MOORAGE_BENCH_LIST_PATH / _GET_PATH point elsewhere).
LIST_PATH = os.environ.get("MOORAGE_BENCH_LIST_PATH", "/v1/containers?all=true")
GET_PATH = os.environ.get("MOORAGE_BENCH_GET_PATH", "/v1/containers/{id}")


@dataclass
class Row:
    figure: str
    engine: str
    moorage: str
    ratio: str
    target: str
    met: str


@dataclass
class Config:
    quick: bool
    seconds: float  # per wrk run
    rounds: int  # alternations engine / moorage
    threads: int = 2
    connections: int = 32


def _fmt(x: float, unit: str = "") -> str:
    if x != x:  # nan
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}{unit}"
    return f"{x:.3g}{unit}"


def _ratio_row(figure: str, engine: float, moorage: float, unit: str, op: str, bound: float) -> Row:
    ratio = moorage / engine if engine else float("nan")
    ok = ratio >= bound if op == ">=" else ratio <= bound
    return Row(
        figure,
        _fmt(engine, unit),
        _fmt(moorage, unit),
        f"{ratio:.2f}x",
        f"{op} {bound}x",
        "met" if ok else "NOT met",
    )


def _missing(figure: str, engine: str, target: str, why: str = "n/a (route missing)") -> Row:
    return Row(figure, engine, why, "-", target, "not measured")


def _answers(url: str) -> bool:
    return http_get(url, timeout=30)[0] == 200


def _alternate(
    cfg: Config, engine_url: str, moorage_url: str, *, threads: int, connections: int
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Engine then moorage, `rounds` times: (engine rps, moorage rps, engine p50, moorage p50)."""
    e_rps: list[float] = []
    m_rps: list[float] = []
    e_p50: list[float] = []
    m_p50: list[float] = []
    for _ in range(cfg.rounds):
        for url, rps, p50 in ((engine_url, e_rps, e_p50), (moorage_url, m_rps, m_p50)):
            res = wrk(url, threads=threads, connections=connections, seconds=cfg.seconds)
            if res.errors and url == moorage_url:
                raise SystemExit(f"bench: {url} answered {res.errors} errors under load")
            rps.append(res.rps)
            p50.append(res.p50_ms)
    return e_rps, m_rps, e_p50, m_p50


def fig1_list(cfg: Config, server: Moorage, count: int) -> list[Row]:
    engine_url = f"{ENGINE_URL}/containers/json?all=1"
    moorage_url = server.url + LIST_PATH
    label = f"1. list, {count} containers"
    if not _answers(moorage_url):
        e = wrk(engine_url, threads=cfg.threads, connections=cfg.connections, seconds=cfg.seconds)
        e1 = wrk(engine_url, threads=1, connections=1, seconds=cfg.seconds)
        return [
            _missing(f"{label}: throughput (req/s)", _fmt(e.rps), ">= 3x"),
            _missing(f"{label}: median latency (ms)", _fmt(e1.p50_ms), "<= 0.5x"),
        ]
    e_rps, m_rps, _, _ = _alternate(
        cfg, engine_url, moorage_url, threads=cfg.threads, connections=cfg.connections
    )
    _, _, e_p50, m_p50 = _alternate(cfg, engine_url, moorage_url, threads=1, connections=1)
    med = statistics.median
    return [
        _ratio_row(f"{label}: throughput (req/s)", med(e_rps), med(m_rps), "", ">=", 3.0),
        _ratio_row(f"{label}: median latency (ms)", med(e_p50), med(m_p50), "", "<=", 0.5),
    ]


def fig1_state_in_process(cfg: Config) -> list[Row]:
    """The state's own cost: list all from memory + orjson, vs the engine's list latency."""

    async def measure() -> tuple[float, float, int]:
        import orjson

        from app.engine import Engine
        from app.services.events import EventBus
        from app.settings import Settings
        from app.state import ContainerState

        engine = Engine(Settings())
        bus = EventBus(engine)
        state = ContainerState(engine, bus)
        await bus.start()
        await state.start()
        try:
            await asyncio.wait_for(state.ready.wait(), 30)
            n = len(state.summaries(all=True) or [])
            loops = 50 if cfg.quick else 300
            t0 = time.perf_counter()
            for _ in range(loops):
                orjson.dumps(state.summaries(all=True))
            ours = (time.perf_counter() - t0) / loops * 1000
            t0 = time.perf_counter()
            for _ in range(loops // 5):
                await engine.json("GET", "containers/json", params={"all": True})
            theirs = (time.perf_counter() - t0) / (loops // 5) * 1000
            return theirs, ours, n
        finally:
            await state.stop()
            await bus.stop()
            await engine.close()

    theirs, ours, n = asyncio.run(measure())
    row = _ratio_row(
        f"1x. state list+JSON in process, {n} containers (ms)", theirs, ours, "", "<=", 0.5
    )
    row.target = "(info: no HTTP)"
    row.met = "-"
    return [row]


def fig2_get(cfg: Config, server: Moorage, cid: str) -> list[Row]:
    engine_url = f"{ENGINE_URL}/containers/{cid}/json"
    moorage_url = server.url + GET_PATH.format(id=cid)
    figure = "2. get one container: median latency (ms)"
    if not _answers(moorage_url):
        e = wrk(engine_url, threads=1, connections=1, seconds=cfg.seconds)
        return [_missing(figure, _fmt(e.p50_ms), "<= 1.5x")]
    _, _, e_p50, m_p50 = _alternate(cfg, engine_url, moorage_url, threads=1, connections=1)
    med = statistics.median
    return [_ratio_row(figure, med(e_p50), med(m_p50), "", "<=", 1.5)]


def _timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t0, out


def fig3_logs(cfg: Config, server: Moorage) -> list[Row]:
    lines = 20_000 if cfg.quick else 200_000
    cid = asyncio.run(containers.run_printer(lines))
    asyncio.run(containers.wait_exit(cid))
    figure = f"3. logs history, {lines:,} lines: wall time (s)"
    docker_cmd = ["sh", "-c", f"docker logs {cid} | wc -c"]
    url = f"{server.url}/v1/containers/{cid}/logs"
    curl_cmd = ["curl", "-sf", "-o", "/dev/null", "-w", "%{size_download}", url]
    e_t, m_t = [], []
    try:
        if not _answers(url):
            return [_missing(figure, _fmt(_timed(docker_cmd)[0]), "<= 1.3x")]
        for _ in range(cfg.rounds):
            e_t.append(_timed(docker_cmd)[0])
            m_t.append(_timed(curl_cmd)[0])
    finally:
        asyncio.run(containers.remove("printer"))
    med = statistics.median
    return [_ratio_row(figure, med(e_t), med(m_t), "", "<=", 1.3)]


@dataclass
class Followed:
    seen: int = 0  # log events
    span: float = 0.0  # seconds from the first to the last
    why: str = ""  # why the stream stopped short: the answer, an `event: error`


async def _sse_count(url: str, want: int, limit_s: float, reconnects: int = 5) -> Followed:
    """Follow an SSE stream as a client would: on an `event: error` (or a connection
    closed before the end) reconnect with Last-Event-ID, up to `reconnects` times.
    HTTP/1.0: the body is the stream itself (no chunk framing between the bytes
    counted), and it ends with the connection."""
    host, _, rest = url.removeprefix("http://").partition("/")
    h, _, p = host.partition(":")
    out = Followed()
    first = last = 0.0
    marker = b"event: log\n"
    last_id: bytes | None = None
    deadline = time.monotonic() + limit_s
    for _ in range(reconnects + 1):
        reader, writer = await asyncio.open_connection(h, int(p))
        resume = b"Last-Event-ID: %s\r\n" % last_id if last_id else b""
        writer.write(
            b"GET /%s HTTP/1.0\r\nHost: %s\r\nAccept: text/event-stream\r\n%s\r\n"
            % (rest.encode(), host.encode(), resume)
        )
        await writer.drain()
        tail, head, ended = b"", b"", False
        try:
            while out.seen < want and time.monotonic() < deadline:
                try:
                    chunk = await asyncio.wait_for(
                        reader.read(1 << 16), deadline - time.monotonic()
                    )
                except TimeoutError:
                    out.why = out.why or "no line before the deadline"
                    break
                if not chunk:
                    break
                if b"\r\n\r\n" not in head:  # the status line and headers
                    head += chunk
                    if b"\r\n\r\n" not in head:
                        continue
                    head, _, chunk = head.partition(b"\r\n\r\n")
                    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
                    head += b"\r\n\r\n"
                    if " 200 " not in status + " ":
                        out.why = f"{status}: {chunk[:200]!r}"
                        ended = True
                        break
                buf = tail + chunk
                n = buf.count(marker)
                if n:
                    now = time.perf_counter()
                    first = first or now
                    last = now
                    out.seen += n
                j = buf.rfind(b"\nid: ")
                k = buf.find(b"\n", j + 1) if j >= 0 else -1
                if k > 0:
                    last_id = buf[j + 5 : k]
                if b"event: end" in buf:
                    ended = True
                    break
                if b"event: error" in buf:
                    out.why = buf[buf.index(b"event: error") :][:300].decode(errors="replace")
                    break
                # From the last newline on (a line not yet whole: never a marker, which
                # ends with one): a marker or id cut by the read is whole in the next.
                tail = buf[max(buf.rfind(b"\n"), len(buf) - 64, 0) :]
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if ended or out.seen >= want or time.monotonic() >= deadline:
            break
    out.span = last - first
    return out


def fig4_follow(cfg: Config, server: Moorage) -> list[Row]:
    lines = 50_000 if cfg.quick else 1_000_000
    figure = "4. SSE log follow, one client (lines/s)"
    cid = asyncio.run(containers.run_printer(lines, delay=2))
    url = f"{server.url}/v1/containers/{cid}/logs/stream"
    try:
        if http_get(f"{server.url}/v1/containers/{cid}/logs", timeout=30)[0] == 404:
            return [_missing(figure, "-", ">= 100,000/s")]
        followed = asyncio.run(_sse_count(url, lines, 60 if cfg.quick else 120))
        seen, span = followed.seen, followed.span
    finally:
        asyncio.run(containers.remove("printer"))
    rate = seen / span if span > 0 else float("nan")
    note = "" if seen >= lines else f" ({seen:,}/{lines:,} lines: {followed.why or 'ended'})"
    return [
        Row(
            figure,
            "-",
            _fmt(rate) + note,
            "-",
            ">= 100,000/s",
            "met" if rate >= 100_000 and seen >= lines else "NOT met",
        )
    ]


async def _fanout(url: str, subs: int, seconds: float, pid: int) -> dict[str, Any]:
    # Clients read to the stream's `event: end`; `seconds` is how long the ticker runs.
    """`subs` SSE clients on one stream: lags (s) from sampled clients, counts from all."""
    import orjson

    counts = [0] * subs
    lags: list[float] = []
    in_order = True
    peak_rss = rss_mb(pid)
    conns_before = peak_conns = engine_connections(pid)
    stop = asyncio.Event()

    async def client(i: int) -> None:
        nonlocal in_order
        host, _, rest = url.removeprefix("http://").partition("/")
        h, _, p = host.partition(":")
        reader, writer = await asyncio.open_connection(h, int(p))
        writer.write(
            f"GET /{rest} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        await writer.drain()
        sampled = i < 10
        last = -1
        buf = b""
        marker = b"event: log"
        try:
            while True:  # to the stream's end (the ticker exits), or the deadline
                chunk = await reader.read(1 << 16)
                if not chunk:
                    break
                if not sampled:  # count only: the client must not be the bottleneck
                    buf += chunk
                    counts[i] += buf.count(marker)
                    if b"event: end" in buf:
                        break
                    buf = buf[-(len(marker) - 1) :]
                    continue
                buf += chunk
                stop_after = b"event: end" in buf
                *done, buf = buf.split(b"\n")
                now = time.time()
                for line in done:
                    if line.startswith(b"data: {"):
                        doc = orjson.loads(line[6:])
                        if "line" not in doc:  # not a log event (end, error)
                            continue
                        counts[i] += 1
                        n = int(str(doc.get("line", "")).strip().removeprefix("tick-") or -1)
                        if n <= last:
                            in_order = False
                        last = n
                        if ts := doc.get("ts"):
                            t = _epoch(ts)
                            if t is not None:
                                lags.append(now - t)
                if stop_after:
                    break
        finally:
            writer.close()

    async def watch_memory() -> None:
        nonlocal peak_rss, peak_conns
        while not stop.is_set():
            peak_rss = max(peak_rss, rss_mb(pid))
            peak_conns = max(peak_conns, engine_connections(pid))
            await asyncio.sleep(0.25)

    base_rss = rss_mb(pid)
    tasks = [asyncio.create_task(client(i)) for i in range(subs)]
    mem = asyncio.create_task(watch_memory())
    await asyncio.wait(tasks, timeout=seconds + 15)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, mem, return_exceptions=True)
    lags.sort()
    p99 = lags[int(len(lags) * 0.99) - 1] if lags else float("nan")
    return {
        "p99_ms": p99 * 1000,
        "min_count": min(counts),
        "max_count": max(counts),
        "in_order": in_order,
        "rss_growth": peak_rss - base_rss,
        "conns_before": conns_before,
        "conns_peak": peak_conns,
    }


def fig5_fanout(cfg: Config) -> list[Row]:
    # Its own moorage, reaching the engine over TCP so its engine connections can be
    # counted (/proc/<pid>/net/tcp); other figures use the socket.
    with Moorage(env={"MOORAGE_DOCKER_HOST": ENGINE_URL.replace("http://", "tcp://")}) as server:
        return _fig5(cfg, server)


def _fig5(cfg: Config, server: Moorage) -> list[Row]:
    subs, rate, seconds = (50, 200, 4.0) if cfg.quick else (1000, 1000, 12.0)
    figure = f"5. fan-out, {subs} SSE subscribers at {rate} lines/s"
    cid = asyncio.run(containers.run_ticker(rate, seconds - 3))
    url = f"{server.url}/v1/containers/{cid}/logs/stream"
    try:
        if http_get(f"{server.url}/v1/containers/{cid}/logs", timeout=30)[0] == 404:
            return [
                _missing(f"{figure}: p99 lag (ms)", "-", "<= 250 ms"),
                _missing(f"{figure}: memory growth (MB)", "-", "<= 60 MB"),
                _missing(f"{figure}: engine connections", "-", "1 for the stream"),
            ]
        res = asyncio.run(_fanout(url, subs, seconds, server.pid))
    finally:
        asyncio.run(containers.remove("ticker"))
    expected = int(rate * (seconds - 3) / 10) * 10  # what the ticker prints
    every = res["min_count"] == res["max_count"] == expected and res["in_order"]
    return [
        Row(
            f"{figure}: p99 lag (ms)",
            "-",
            _fmt(res["p99_ms"])
            + (
                ""
                if every
                else f" (lines {res['min_count']}-{res['max_count']}/{expected}"
                f"{'' if res['in_order'] else ', out of order'})"
            ),
            "-",
            "<= 250 ms, all lines, in order",
            "met" if res["p99_ms"] <= 250 and every else "NOT met",
        ),
        Row(
            f"{figure}: memory growth (MB)",
            "-",
            _fmt(res["rss_growth"]),
            "-",
            "<= 60 MB",
            "met" if res["rss_growth"] <= 60 else "NOT met",
        ),
        Row(
            f"{figure}: engine connections",
            str(res["conns_before"]),
            str(res["conns_peak"]),
            f"+{res['conns_peak'] - res['conns_before']}",
            "+1 (before -> peak)",
            "met" if res["conns_peak"] - res["conns_before"] <= 1 else "NOT met",
        ),
    ]


def fig6_start(cfg: Config, containers_present: int) -> list[Row]:
    ready, rss = [], []
    for _ in range(1 if cfg.quick else 3):
        with Moorage() as m:
            ready.append(m.ready_s)
            time.sleep(1.0 if cfg.quick else 3.0)  # the state cache warms up
            rss.append(rss_mb(m.pid))
    r, m_rss = statistics.median(ready), statistics.median(rss)
    return [
        Row(
            f"6. idle memory, {containers_present} containers known (MB RSS)",
            "-",
            _fmt(m_rss),
            "-",
            "<= 80 MB",
            "met" if m_rss <= 80 else "NOT met",
        ),
        Row(
            "6. ready after start (s)",
            "-",
            _fmt(r),
            "-",
            "<= 1.5 s",
            "met" if r <= 1.5 else "NOT met",
        ),
    ]
