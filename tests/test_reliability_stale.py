"""The engine stopped while lists and reads are made: 503, or the last state if asked.

moorage answers container lists and reads from its state (app/state.py), which follows
the engine only through the event reader. Once the reader has lost the engine, that copy
is no answer: every read is 503 `engine-unavailable` with `Retry-After`, at once; a
caller who asks `stale=true` gets the last known state with `Moorage-Stale-Since`; and
when the engine is back the answers are fresh again (the container the engine stopped on
its way down shows as exited, not as the running one the copy remembers).

Against a private engine (tests/engine_harness.py) under a real uvicorn.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_IMAGE, LiveServer
from tests.engine_harness import PrivateEngine, private_engine, wait_for

__all__ = ["private_engine"]

pytestmark = [pytest.mark.engine, pytest.mark.slow]

STALE = "moorage-stale-since"
# The headers that must be the same whichever path (hot or routed) answered.
SAME = ("content-type", "content-length", "retry-after", STALE)


def assert_unavailable(r: httpx.Response, retry_after: str = "3") -> None:
    assert r.status_code == 503, (r.request.url, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    # engine-unavailable from an engine call; host-unavailable once the host is known down
    assert r.json()["code"] in ("engine-unavailable", "host-unavailable")
    assert r.headers["retry-after"] == retry_after
    assert STALE not in r.headers


def stale_since(r: httpx.Response) -> float:
    assert r.status_code == 200, r.text
    return datetime.fromisoformat(r.headers[STALE].replace("Z", "+00:00")).timestamp()


def same_answer(http: httpx.Client, url: str) -> httpx.Response:
    """The hot path's answer (app/middleware.py HotReads) and the routed one agree."""
    hot = http.get(url)
    routed = http.get(url + ("&" if "?" in url else "?") + "routed=1")
    assert (hot.status_code, hot.content) == (routed.status_code, routed.content)
    for h in SAME:
        assert hot.headers.get(h) == routed.headers.get(h), h
    return hot


def mine(r: httpx.Response, cid: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in r.json() if c["id"] == cid]
    assert len(found) == 1, r.text[:500]
    return found[0]


def test_engine_stopped_while_reading(private_engine: PrivateEngine, name: str) -> None:
    server = LiveServer(
        env={"MOORAGE_DOCKER_HOST": private_engine.url, "MOORAGE_ENGINE_RETRY_AFTER": "3"}
    ).start(wait_ready=True)
    cid = private_engine.docker(
        "run", "-d", "--network", "none", "--name", name, TEST_IMAGE, "sleep", "600"
    ).strip()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            # The state follows the engine: the container shows, answers are not marked.
            assert wait_for(lambda: cid in http.get("/v1/containers").text)
            for url in ("/v1/containers?stale=true", f"/v1/containers/{cid}?stale=true"):
                r = http.get(url)
                assert r.status_code == 200, r.text
                assert STALE not in r.headers
            assert same_answer(http, f"/v1/containers/{cid}").json()["status"] == "running"

            before = time.time()
            private_engine.stop()
            after = time.time()
            # The event reader notices at once; from then on no read is answered from
            # the copy: lists, reads (hot and routed), by id, name, fresh or not.
            assert wait_for(lambda: http.get("/v1/containers").status_code == 503, timeout=10)
            for url in (
                "/v1/containers",
                "/v1/containers?all=true",
                f"/v1/containers?all=true&name={name}",
                "/v1/containers?fresh=true",
                f"/v1/containers/{cid}",
                f"/v1/containers/{name}",
                f"/v1/containers/{cid[:12]}?fresh=true",
                f"/v1/containers/{cid}/health",
                "/v1/images",
                "/v1/volumes",
                "/v1/networks",
                "/v1/system/info",
            ):
                assert_unavailable(http.get(url))
            assert_unavailable(same_answer(http, f"/v1/containers/{cid}"))

            # stale=true: the last known state, marked with the time it stopped following.
            # (dockerd stops its containers on the way down, and the reader sees that.)
            r = http.get("/v1/containers?all=true&stale=true")
            since = stale_since(r)
            assert before - 1 <= since <= after + 1
            last = mine(r, cid)
            r = http.get(f"/v1/containers?all=true&stale=true&name={name}")
            assert [c["id"] for c in r.json()] == [cid]
            assert stale_since(r) == since
            for url in (f"/v1/containers/{cid}?stale=true", f"/v1/containers/{name}?stale=1"):
                r = same_answer(http, url)
                assert stale_since(r) == since
                assert r.json()["id"] == cid
                assert r.json()["status"] == last["state"]
            # What the copy never held cannot be answered from it.
            assert_unavailable(http.get("/v1/containers/never-seen-here?stale=true"))

            # Back: fresh answers, no marks; the engine stopped the container on its way
            # down, and the lists say so.
            private_engine.start()
            assert wait_for(lambda: http.get("/v1/containers").status_code == 200, timeout=20)
            r = http.get("/v1/containers?all=true&stale=true")
            assert STALE not in r.headers
            assert mine(r, cid)["state"] == "exited"
            assert cid not in http.get("/v1/containers").text  # not running any more
            r = same_answer(http, f"/v1/containers/{cid}")
            assert r.status_code == 200
            assert STALE not in r.headers
            assert r.json()["status"] == "exited"
    finally:
        server.stop()
        private_engine.ensure_running()
        private_engine.docker("rm", "-f", cid, check=False)
