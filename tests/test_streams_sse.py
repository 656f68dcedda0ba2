"""Properties every stream shares: headers at once, retry hint, keep-alive comments,
a maximum lifetime ending with `end`, bad resume ids refused."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer
from tests.sse import events

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def short_lived():
    server = LiveServer(
        env={
            "MOORAGE_SSE_PING_INTERVAL": "0.2",
            "MOORAGE_SSE_MAX_LIFETIME": "1.5",
            "MOORAGE_SSE_RETRY_MS": "1234",
        }
    ).start(wait_ready=True)
    yield server
    server.stop()


async def test_headers_retry_ping_and_lifetime(short_lived):
    # A quiet stream (no such event type): only the plumbing shows.
    url = f"{short_lived.url}/v1/events?type=no-such-type"
    async with httpx.AsyncClient(timeout=30) as c, c.stream("GET", url) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-store"
        frames = [ev async for ev in events(r, with_comments=True)]
    assert frames[0].retry == 1234
    assert any(c.strip() == "ping" or c.startswith("ping") for f in frames for c in f.comments)
    assert frames[-1].event == "end"
    assert frames[-1].json == {"reason": "max-lifetime"}


async def test_bad_resume_id_is_refused(live_server):
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.get(f"{live_server.url}/v1/events", headers={"Last-Event-ID": "nope"})
    assert r.status_code == 422
    assert r.json()["code"] == "validation-error"
