"""Three hosts in one moorage — the shared engine (unix), a TLS engine and an SSH
engine — each answering its own requests (`host=<name>`), and a host whose SSH key is
refused being down with the cause as its error while the others answer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from app.hosts import HostConfig, HostRegistry
from app.settings import Settings
from app.targets import SshFiles, Target
from tests.conftest import TEST_IMAGE, docker, in_process, run_sleeper
from tests.transport_harness import SshEngine, TlsEngine, ssh_engine, tls_engine

__all__ = ["ssh_engine", "tls_engine"]

pytestmark = pytest.mark.slow


@asynccontextmanager
async def three_hosts(
    monkeypatch: pytest.MonkeyPatch, tls: TlsEngine, ssh: SshEngine, ssh_files: SshFiles | None
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """moorage in process with the hosts `local` (default), `tls` and `ssh`."""
    settings = Settings(engine_connect_timeout=3)
    configs = [
        HostConfig("local", Target(settings.docker_host), default=True),
        HostConfig("tls", tls.target(), source="file"),
        HostConfig("ssh", ssh.target(ssh_files), source="file"),
    ]
    monkeypatch.setattr(HostRegistry, "from_settings", classmethod(lambda cls, s: cls(s, configs)))
    async with in_process(settings) as pair:
        yield pair


async def states(app: FastAPI, want: dict[str, str]) -> dict[str, str]:
    """The hosts' states once each is as wanted (or after 30 s)."""
    hosts: HostRegistry = app.state.hosts
    for _ in range(150):
        now = {h.name: h.state for h in hosts.all()}
        if all(now.get(n) == s for n, s in want.items()):
            break
        await asyncio.sleep(0.2)
    return {h.name: h.state for h in hosts.all()}


async def test_a_unix_a_tls_and_an_ssh_host_answer_each_their_own(
    tls_engine: TlsEngine, ssh_engine: SshEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark = f"mt-hosts-{uuid.uuid4().hex[:8]}"
    local = run_sleeper(TEST_IMAGE, f"{mark}-local", "--label", f"mt.hosts={mark}")
    ids = {"local": docker("inspect", "-f", "{{.Id}}", local).strip()}
    for host, engine in (("tls", tls_engine), ("ssh", ssh_engine)):
        ids[host] = engine.docker(
            "run", "-d", "--name", f"{mark}-{host}", "--label", f"mt.hosts={mark}",
            TEST_IMAGE, "sleep", "600",
        ).strip()  # fmt: skip
    try:
        async with three_hosts(monkeypatch, tls_engine, ssh_engine, None) as (app, c):
            want = dict.fromkeys(ids, "up")
            assert await states(app, want) == want
            for name in ids:
                host = app.state.hosts.get(name)
                assert host.api_version == "1.41"
                assert host.error is None
            for host, cid in ids.items():
                r = await c.get(
                    "/v1/containers", params={"label": f"mt.hosts={mark}", "host": host}
                )
                assert r.status_code == 200, r.text
                assert [x["id"] for x in r.json()] == [cid], host
                r = await c.get("/v1/system/ping", params={"host": host})
                assert r.json() == {"ok": True, "api_version": "1.41"}
            # No host given: the default one.
            r = await c.get("/v1/containers", params={"label": f"mt.hosts={mark}"})
            assert [x["id"] for x in r.json()] == [ids["local"]]
    finally:
        docker("rm", "-f", ids["local"], check=False)
        tls_engine.docker("rm", "-f", ids["tls"], check=False)
        ssh_engine.docker("rm", "-f", ids["ssh"], check=False)


async def test_a_refused_ssh_key_is_the_host_error_and_shows_no_key(
    tls_engine: TlsEngine, ssh_engine: SshEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = SshFiles(
        key=ssh_engine.client / "other_ed25519", known_hosts=ssh_engine.client / "known_hosts"
    )
    async with three_hosts(monkeypatch, tls_engine, ssh_engine, refused) as (app, c):
        want = {"local": "up", "tls": "up", "ssh": "down"}
        assert await states(app, want) == want
        error = app.state.hosts.get("ssh").error
        assert "refused the key for user root" in error, error
        for line in ssh_engine.secrets():
            assert line not in error
        r = await c.get("/v1/containers", params={"host": "ssh"})
        assert r.status_code == 503, r.text
        assert "refused the key" in r.json()["detail"]
        r = await c.get("/v1/containers", params={"host": "tls"})
        assert r.status_code == 200, r.text
