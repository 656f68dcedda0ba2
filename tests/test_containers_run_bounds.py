"""`POST /v1/containers/run` of a container that never exits: bounded, and abandoned
when its client goes away.

- no `timeout`: the wait ends at `MOORAGE_RUN_MAX_TIMEOUT` (504, the container left as
  it is, as for any timeout); a `timeout` above it is refused before anything is made;
- the client disconnects mid-run: moorage stops waiting; with `remove` (the default)
  the container is killed and removed, without it is left as it is.

Against a real uvicorn (a disconnect is a closed socket) and the shared engine.
"""

from __future__ import annotations

import http.client
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import RUN_ID, TEST_IMAGE, TEST_LABEL, LiveServer, docker
from tests.engine_harness import wait_for

pytestmark = [pytest.mark.engine, pytest.mark.slow]


@pytest.fixture(scope="module")
def bounded() -> Iterator[LiveServer]:
    """moorage that waits at most 2 s for a run."""
    live = LiveServer(env={"MOORAGE_RUN_MAX_TIMEOUT": "2"}).start(wait_ready=True)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    """moorage with the default bound (an hour): only the client ends a run here."""
    live = LiveServer().start(wait_ready=True)
    yield live
    live.stop()


def forever(mark: str, **extra: Any) -> dict[str, Any]:
    """A container that never exits by itself: an interactive shell on a TTY."""
    return {
        "image": TEST_IMAGE,
        "command": ["sh"],
        "tty": True,
        "network": "none",
        "labels": {TEST_LABEL: RUN_ID, "mt.run": mark},
        **extra,
    }


def marked(mark: str, *states: str) -> list[str]:
    flt = ["--filter", f"label=mt.run={mark}"]
    for state in states:
        flt += ["--filter", f"status={state}"]
    return docker("ps", "-aq", *flt).split()


def gone_count(server: LiveServer) -> int:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    m = re.search(
        r'moorage_requests_total\{method="POST",operation="containers_run",status="499"\} (\d+)',
        text,
    )
    return int(m.group(1)) if m else 0


def run_then_hang_up(server: LiveServer, body: dict[str, Any], mark: str) -> None:
    """Send the run, wait until its container runs, then close the connection unread."""
    before = gone_count(server)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request(
        "POST", "/v1/containers/run", json.dumps(body), {"Content-Type": "application/json"}
    )
    try:
        assert wait_for(lambda: len(marked(mark, "running")) == 1, timeout=30)
    finally:
        conn.close()
    # moorage saw the disconnect (it records the request as 499 client-gone).
    assert wait_for(lambda: gone_count(server) == before + 1, timeout=30)


def test_no_timeout_is_bounded_by_the_setting(bounded: LiveServer) -> None:
    mark = uuid.uuid4().hex[:8]
    try:
        r = httpx.post(bounded.url + "/v1/containers/run", json=forever(mark), timeout=60)
        assert r.status_code == 504, r.text
        problem = r.json()
        assert problem["code"] == "timeout"
        assert "within 2 s" in problem["detail"]
        assert "left as it is" in problem["detail"]
        assert marked(mark, "running") == [problem["container_id"][:12]]
    finally:
        for cid in marked(mark):
            docker("rm", "-f", cid, check=False)


def test_timeout_over_the_setting_is_refused(bounded: LiveServer) -> None:
    mark = uuid.uuid4().hex[:8]
    r = httpx.post(bounded.url + "/v1/containers/run", json=forever(mark, timeout=2.5), timeout=60)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "validation-error"
    assert problem["errors"][0]["loc"] == ["body", "timeout"]
    assert "MOORAGE_RUN_MAX_TIMEOUT" in problem["detail"]
    assert marked(mark) == []  # nothing was made


def test_client_gone_kills_and_removes(server: LiveServer) -> None:
    mark = uuid.uuid4().hex[:8]
    try:
        run_then_hang_up(server, forever(mark), mark)
        assert wait_for(lambda: marked(mark) == [], timeout=30)
    finally:
        for cid in marked(mark):
            docker("rm", "-f", cid, check=False)


def test_client_gone_keeps_what_remove_false_keeps(server: LiveServer) -> None:
    mark = uuid.uuid4().hex[:8]
    try:
        run_then_hang_up(server, forever(mark, remove=False), mark)
        # Seen gone, and the container is left as it is: running.
        assert len(marked(mark, "running")) == 1
    finally:
        for cid in marked(mark):
            docker("rm", "-f", cid, check=False)
