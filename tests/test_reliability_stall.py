"""Engine stalled (SIGSTOP on the PRIVATE dockerd): 504 at the configured timeouts,
never more engine connections than the pool, recovery on SIGCONT.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer
from tests.engine_harness import PrivateEngine, private_engine, process_unix_sockets

__all__ = ["private_engine"]

pytestmark = [pytest.mark.engine, pytest.mark.slow]

POOL = 5
ENGINE_TIMEOUT = 2.0
READY_TIMEOUT = 0.5


@pytest.fixture
def stalled_server(private_engine: PrivateEngine) -> Iterator[tuple[LiveServer, PrivateEngine]]:
    server = LiveServer(
        env={
            "MOORAGE_DOCKER_HOST": private_engine.url,
            "MOORAGE_ENGINE_POOL_SIZE": str(POOL),
            "MOORAGE_ENGINE_TIMEOUT": str(ENGINE_TIMEOUT),
            "MOORAGE_ENGINE_CONNECT_TIMEOUT": str(ENGINE_TIMEOUT),
            # Far above the read timeout: proves /readyz has its own.
            "MOORAGE_READY_TIMEOUT": str(READY_TIMEOUT),
        }
    ).start(wait_ready=True)
    try:
        yield server, private_engine
    finally:
        if private_engine.status() == "paused":
            private_engine.resume()
        server.stop()


class MaxConnections:
    """Samples moorage's engine connections in a thread; keeps the maximum.

    Counted on moorage's side (its unix sockets, less the few that are not engine
    connections): a stopped dockerd keeps closed connections in its listen queue.
    """

    def __init__(self, engine: PrivateEngine, pid: int) -> None:
        self.engine = engine
        self.pid = pid
        # Measured while the engine runs and nothing else talks to it.
        self.others = process_unix_sockets(pid) - engine.connections()
        self.maximum = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.maximum = max(self.maximum, process_unix_sockets(self.pid) - self.others)
            self._stop.wait(0.02)

    def __enter__(self) -> MaxConnections:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def test_stalled_engine_times_out_and_recovers(
    stalled_server: tuple[LiveServer, PrivateEngine],
) -> None:
    server, engine = stalled_server
    async with httpx.AsyncClient(
        base_url=server.url,
        # Generous bound: the service must answer on its own well before this.
        timeout=ENGINE_TIMEOUT * 4 + 5,
        limits=httpx.Limits(max_connections=100),
    ) as http:
        assert (await http.get("/v1/system/info")).status_code == 200
        assert server.proc is not None
        sampler = MaxConnections(engine, server.proc.pid)
        await asyncio.to_thread(engine.pause)
        assert engine.status() == "paused"

        r = await http.get("/v1/system/info")
        assert r.status_code == 504, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "timeout"

        # The probe answers "not ready" on its own short timeout, before the read timeout.
        r = await http.get("/readyz", timeout=ENGINE_TIMEOUT)
        assert r.status_code == 503
        assert r.json()["code"] == "engine-unavailable"
        assert "retry-after" in r.headers

        # 50 concurrent calls while stalled: all time out, and the engine never sees
        # more connections than the pool allows (the event reader holds one of them).
        with sampler:
            answers = await asyncio.gather(
                *(http.get("/v1/system/info") for _ in range(25)),
                *(http.get("/v1/system/version") for _ in range(25)),
            )
        statuses = sorted({a.status_code for a in answers})
        assert statuses == [504], [a.text for a in answers if a.status_code != 504][:3]
        assert all(a.json()["code"] == "timeout" for a in answers)
        assert 1 <= sampler.maximum <= POOL, sampler.maximum

        # The service itself stayed responsive all along.
        assert (await http.get("/healthz")).status_code == 200

        await asyncio.to_thread(engine.resume)

        async def ready() -> bool:
            return (await http.get("/readyz")).status_code == 200

        for _ in range(200):
            if await ready():
                break
            await asyncio.sleep(0.05)
        r = await http.get("/v1/system/info")
        assert r.status_code == 200, r.text
        answers = await asyncio.gather(*(http.get("/v1/system/version") for _ in range(20)))
        assert {a.status_code for a in answers} == {200}
    assert server.proc is not None
    assert server.proc.poll() is None
