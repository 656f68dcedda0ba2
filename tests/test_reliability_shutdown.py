"""Shutdown: SIGTERM lets in-flight requests finish, ends open streams with `end`
(reason: shutdown), and exits within the configured grace period (`moorage serve`,
MOORAGE_SHUTDOWN_GRACE).

Slow requests are made for real: the PRIVATE engine is paused (SIGSTOP), so a call to
it is in flight for as long as the test wants.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, TEST_IMAGE, free_port
from tests.engine_harness import PrivateEngine, private_engine, route_exists, wait_for

__all__ = ["private_engine"]

pytestmark = [pytest.mark.engine, pytest.mark.slow]

GRACE = 3


class Serve:
    """`moorage serve` in its own process (the CLI passes the grace period to uvicorn)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = ROOT / f".pytest-serve-{self.port}.log"
        with self.log.open("wb") as logf:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env={**os.environ, "MOORAGE_LOG_LEVEL": "warning", **env},
                stdout=logf,
                stderr=subprocess.STDOUT,
            )
        ok = wait_for(self._up, timeout=30, interval=0.1)
        if not ok:
            self.kill()
            raise AssertionError(f"moorage serve did not start: {self.log.read_text()[-2000:]}")

    def _up(self) -> bool:
        try:
            return httpx.get(self.url + "/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return self.proc.poll() is not None

    def terminate(self) -> float:
        """SIGTERM; the time it was sent."""
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        return sent

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.unlink(missing_ok=True)


@pytest.fixture
def serve(private_engine: PrivateEngine) -> Iterator[Serve]:
    server = Serve(
        {
            "MOORAGE_DOCKER_HOST": private_engine.url,
            "MOORAGE_SHUTDOWN_GRACE": str(GRACE),
            "MOORAGE_ENGINE_TIMEOUT": "60",
        }
    )
    try:
        yield server
    finally:
        if private_engine.status() == "paused":
            private_engine.resume()
        server.kill()


def in_background(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["response"] = fn()
        except httpx.HTTPError as exc:
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_sigterm_lets_in_flight_requests_finish(
    serve: Serve, private_engine: PrivateEngine
) -> None:
    private_engine.pause()
    thread, result = in_background(lambda: httpx.get(serve.url + "/v1/system/info", timeout=60))
    time.sleep(0.5)  # the request reaches the (stalled) engine
    serve.terminate()
    time.sleep(0.5)
    assert serve.proc.poll() is None, "exited with a request in flight"
    # New connections are refused while it drains.
    with pytest.raises(httpx.HTTPError):
        httpx.get(serve.url + "/healthz", timeout=2)
    private_engine.resume()
    thread.join(30)
    assert "response" in result, result
    assert result["response"].status_code == 200
    # uvicorn re-raises the signal once it has shut down cleanly.
    assert serve.proc.wait(GRACE + 10) in (0, -signal.SIGTERM)


def test_sigterm_exits_within_the_grace_period(serve: Serve, private_engine: PrivateEngine) -> None:
    private_engine.pause()
    # A long call (no read timeout) to a stalled engine: it would never finish.
    thread, result = in_background(lambda: httpx.get(serve.url + "/v1/system/df", timeout=60))
    time.sleep(0.5)
    sent = serve.terminate()
    code = serve.proc.wait(GRACE + 10)
    took = time.monotonic() - sent
    thread.join(10)
    print(f"exited {took:.2f} s after SIGTERM (grace {GRACE} s), code {code}; {result}")
    assert took < GRACE + 5
    # The cut request gets a problem, not uvicorn's bare 500.
    r = result["response"]
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "shutting-down"
    assert "retry-after" in r.headers


def test_sigterm_ends_streams_with_shutdown(serve: Serve, private_engine: PrivateEngine) -> None:
    if not route_exists(serve.url, "GET", "/v1/events"):
        pytest.skip("no /v1/events route on this branch yet (streams land later)")
    streams: list[tuple[threading.Thread, dict[str, Any]]] = []
    opened = threading.Barrier(6)

    def read_stream(path: str) -> str:
        text = ""
        with httpx.stream("GET", serve.url + path, timeout=30) as resp:
            assert resp.status_code == 200
            opened.wait(10)
            for chunk in resp.iter_text():
                text += chunk
        return text

    cid = private_engine.docker("run", "-d", TEST_IMAGE, "sh", "-c", "echo up; sleep 60").strip()
    try:
        # Every kind of stream.
        paths = [
            "/v1/events",
            "/v1/health/stream",
            "/v1/stats/stream",
            f"/v1/containers/{cid}/logs/stream",
            f"/v1/containers/{cid}/stats/stream",
        ]
        for path in paths:
            streams.append(in_background(lambda path=path: read_stream(path)))
        opened.wait(10)
        sent = serve.terminate()
        code = serve.proc.wait(GRACE + 10)
        took = time.monotonic() - sent
        assert took < GRACE + 5
        assert code in (0, -signal.SIGTERM)
        for path, (thread, result) in zip(paths, streams, strict=True):
            thread.join(10)
            text = result.get("response", "")
            assert "event: end" in text, (path, text[-300:], result.get("error"))
            assert "shutdown" in text.split("event: end", 1)[1], (path, text[-300:])
    finally:
        private_engine.docker("rm", "-f", cid, check=False)
