"""Hosts added, changed and removed at run time (POST·PATCH·DELETE /v1/hosts), kept in
moorage's database (the audit store) across restarts; hosts of the file are read-only.

The hosts added here name the shared engine's socket under another name: what is
checked is moorage's own bookkeeping, and that the new host really reaches an engine.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.hosts import HostRegistry
from app.settings import Settings
from tests.conftest import in_process

SOCKET = "unix:///var/run/docker.sock"


def _settings(tmp_path: Path) -> Settings:
    hosts = tmp_path / "hosts.toml"
    hosts.write_text(f'[[hosts]]\nname = "local"\nurl = "{SOCKET}"\ndefault = true\n')
    return Settings(hosts_file=hosts, audit_db=str(tmp_path / "moorage.sqlite3"))


async def _until_up(hosts: HostRegistry, name: str) -> None:
    with hosts.subscribe() as changes:
        async with asyncio.timeout(15):
            while hosts.get(name).state != "up":
                await changes.get()


async def test_add_change_remove_and_keep_across_a_restart(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    async with in_process(settings) as (app, c):
        r = await c.post("/v1/hosts", json={"name": "api-1", "url": SOCKET, "labels": {"a": "1"}})
        assert r.status_code == 201, r.text
        assert r.json()["source"] == "api"
        assert r.json()["state"] == "connecting"
        await _until_up(app.state.hosts, "api-1")
        r = await c.get("/v1/system/ping?host=api-1")
        assert r.status_code == 200, r.text
        r = await c.get("/v1/hosts/api-1")
        assert r.json()["state"] == "up"
        assert r.json()["labels"] == {"a": "1"}
    # A new process on the same database: the host is back, and still changeable.
    async with in_process(settings) as (app, c):
        names = [h["name"] for h in (await c.get("/v1/hosts")).json()]
        assert names == ["local", "api-1"]
        r = await c.patch("/v1/hosts/api-1", json={"labels": {"b": "2"}, "disabled": True})
        assert r.status_code == 200, r.text
        assert r.json()["labels"] == {"b": "2"}
        assert r.json()["state"] == "disabled"
        r = await c.get("/v1/system/ping?host=api-1")
        assert r.status_code == 503
        assert r.json()["code"] == "host-unavailable"
        assert (await c.delete("/v1/hosts/api-1")).status_code == 204
        assert (await c.get("/v1/hosts/api-1")).status_code == 404
        assert (await c.get("/v1/system/ping?host=api-1")).status_code == 404
    async with in_process(settings) as (app, c):
        assert [h["name"] for h in (await c.get("/v1/hosts")).json()] == ["local"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Bad_Name", "url": SOCKET}, "name"),
        ({"name": "x1", "url": "ftp://somewhere"}, "url"),
        ({"name": "x1", "url": "ssh://me@127.0.0.1"}, "ssh"),
        ({"name": "x1", "url": "ssh://me:secret@127.0.0.1", "ssh": {"known_hosts": "/k"}}, "url"),
        ({"name": "x1", "url": SOCKET, "tls": {"ca": "/ca.pem"}}, "tls"),
        ({"name": "x1", "url": "tcp://127.0.0.1:2376", "tls": {"ca": "ca.pem"}}, "tls"),
        ({"name": "x1", "url": SOCKET, "typo": 1}, "typo"),
    ],
)
async def test_bad_hosts_are_422_and_nothing_is_added(
    tmp_path: Path, body: dict[str, object], field: str
) -> None:
    async with in_process(_settings(tmp_path)) as (_, c):
        r = await c.post("/v1/hosts", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "validation-error"
        assert field in r.text
        assert [h["name"] for h in (await c.get("/v1/hosts")).json()] == ["local"]


async def test_file_hosts_are_read_only_and_names_unique(tmp_path: Path) -> None:
    async with in_process(_settings(tmp_path)) as (_, c):
        r = await c.patch("/v1/hosts/local", json={"labels": {"x": "y"}})
        assert r.status_code == 409
        assert "hosts file" in r.json()["detail"]
        assert (await c.delete("/v1/hosts/local")).status_code == 409
        r = await c.post("/v1/hosts", json={"name": "local", "url": SOCKET})
        assert r.status_code == 409
        assert r.json()["code"] == "name-in-use"
        # One default: the file's.
        r = await c.post("/v1/hosts", json={"name": "x2", "url": SOCKET, "default": True})
        assert r.status_code == 409
        assert (await c.get("/v1/hosts/local")).json()["labels"] == {}
        assert (await c.get("/v1/hosts/x2")).status_code == 404
