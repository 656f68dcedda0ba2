"""Engine down at start: the service starts anyway and comes good by itself.

Runs against a private engine (tests/engine_harness.py): it is stopped before moorage
starts, then started while moorage runs, and moorage must notice without a restart.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.services.events import EventBus
from app.settings import Settings
from tests.conftest import LiveServer
from tests.engine_harness import PrivateEngine, private_engine, wait_for

__all__ = ["private_engine"]

pytestmark = [pytest.mark.engine, pytest.mark.slow]

V1_SYSTEM = ["/v1/system/ping", "/v1/system/version", "/v1/system/info", "/v1/system/df"]


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    # engine-unavailable from an engine call; host-unavailable once the host is known down
    assert body["code"] in ("engine-unavailable", "host-unavailable")
    assert body["status"] == 503
    assert int(r.headers["retry-after"]) >= 1


def test_engine_down_at_start_then_appears(private_engine: PrivateEngine) -> None:
    private_engine.stop()
    server = LiveServer(
        env={"MOORAGE_DOCKER_HOST": private_engine.url, "MOORAGE_ENGINE_RETRY_AFTER": "3"}
    ).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            r = http.get("/healthz")
            assert r.status_code == 200
            assert r.json() == {"status": "ok"}
            r = http.get("/readyz")
            assert_unavailable(r)
            assert r.headers["retry-after"] == "3"
            for path in V1_SYSTEM:
                r = http.get(path)
                assert_unavailable(r)
                assert r.headers["retry-after"] == "3"

            private_engine.start()
            # No restart of moorage: it must come good by itself.
            assert wait_for(lambda: http.get("/readyz").status_code == 200, timeout=15)
            for path in V1_SYSTEM:
                r = http.get(path)
                assert r.status_code == 200, (path, r.text)
            assert r.json()["images"]["count"] >= 1  # /df: the private engine's image
        assert server.proc is not None
        assert server.proc.poll() is None
    finally:
        server.stop()


async def test_event_reader_connects_when_engine_appears(
    private_engine: PrivateEngine, name: str, image: str
) -> None:
    await asyncio.to_thread(private_engine.stop)
    app = create_app(Settings(MOORAGE_DOCKER_HOST=private_engine.url))
    async with LifespanManager(app):
        bus: EventBus = app.state.events
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://moorage.test") as c:
            with bus.subscribe() as sub:
                assert_unavailable(await c.get("/readyz"))
                assert_unavailable(await c.get("/v1/system/info"))
                assert not bus.connected.is_set()

                await asyncio.to_thread(private_engine.start)
                async with asyncio.timeout(15):
                    await bus.connected.wait()
                    marker = await sub.get()
                assert marker == {"moorage": "connected", "resumed_from": None}
                assert (await c.get("/readyz")).status_code == 200

                # Events flow: a container created now reaches the bus.
                cid = (
                    await asyncio.to_thread(
                        private_engine.docker, "create", "--name", name, image, "true"
                    )
                ).strip()
                try:
                    async with asyncio.timeout(10):
                        while True:
                            event = await sub.get()
                            if event.get("Action") == "create" and event["Actor"]["ID"] == cid:
                                break
                finally:
                    await asyncio.to_thread(private_engine.docker, "rm", "-f", cid)
