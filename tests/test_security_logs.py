"""Tokens, tickets and passwords never reach a log line or an error body."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.conftest import ROOT, free_port
from tests.test_audit import SECRET, add_change_routes
from tests.test_security import EXPIRED, TOKENS, app_client, bearer, write_tokens


async def test_no_secret_in_logs_or_bodies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = write_tokens(tmp_path / "tokens.toml")
    settings = Settings(tokens_file=tokens, audit_db=str(tmp_path / "a.sqlite3"))
    bodies: list[str] = []
    with caplog.at_level(logging.DEBUG):
        async with app_client(settings, setup=add_change_routes) as (_, c):
            for header in (f"Bearer {EXPIRED}", f"Bearer {TOKENS['admin']}x", "Bearer mrg_x"):
                r = await c.post("/v1/auth/tickets", headers={"Authorization": header})
                bodies.append(r.text)
            r = await c.post("/v1/auth/tickets", headers=bearer("admin"), json={})
            ticket = r.json()["ticket"]
            for url in (f"/v1/system/ping?ticket={ticket}", f"/v1/_t/x?ticket={ticket}"):
                bodies.append((await c.get(url)).text)
            pull = {"image": "x", "auth": {"username": "u", "password": SECRET}}
            for role in ("viewer", "admin"):
                r = await c.post("/v1/_t/images/pull", json=pull, headers=bearer(role))
                bodies.append(r.text)
            # a malformed body with a secret in it: the 422 must not echo it
            r = await c.post(
                "/v1/auth/tickets",
                json={"path": "/v1/x", "password": SECRET},
                headers=bearer("admin"),
            )
            assert r.status_code == 422
            bodies.append(r.text)
            r = await c.get("/v1/audit", headers=bearer("admin"))
            bodies.append(r.text)
    text = caplog.text + "\n".join(bodies)
    for secret in (*TOKENS.values(), EXPIRED, SECRET):
        assert secret not in text


def test_live_server_access_log_hides_tickets_and_tokens(tmp_path: Path) -> None:
    tokens = write_tokens(tmp_path / "tokens.toml")
    port = free_port()
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "MOORAGE_TOKENS_FILE": str(tokens),
        "MOORAGE_AUDIT_DB": str(tmp_path / "audit.sqlite3"),
    }
    with log.open("wb") as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "debug"],
            cwd=ROOT, env=env, stdout=logf, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            with httpx.Client(base_url=url, timeout=10) as c:
                ticket = c.post("/v1/auth/tickets", headers=bearer("viewer"), json={}).json()[
                    "ticket"
                ]
                # An endless stream: the headers are enough for the access log line.
                with c.stream("GET", f"/v1/events?ticket={ticket}&type=container") as r:
                    assert r.status_code == 200
                c.get(f"/v1/system/ping?token={TOKENS['admin']}")
                c.get("/v1/system/ping", headers=bearer("admin"))
                c.post("/v1/auth/tickets", headers={"Authorization": f"Bearer {EXPIRED}"})
                c.post(
                    "/v1/auth/tickets",
                    headers=bearer("admin"),
                    json={"auth": {"password": SECRET}},
                )
        finally:
            proc.terminate()
            proc.wait(10)
    text = log.read_text()
    assert "GET /v1/events?ticket=***&type=container" in text, text
    for secret in (ticket, *TOKENS.values(), EXPIRED, SECRET):
        assert secret not in text
