"""Tokens limited to some hosts (`hosts = ["edge-*"]`), and the host in the audit log.

Two hosts on the shared engine (`local`, the default, and `edge-1`: the same socket
under another name) are enough: what is checked is moorage's refusal, and that
nothing a refused call asked for happened on the engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.security import hash_token
from app.settings import Settings
from tests.conftest import RUN_ID, TEST_LABEL, docker, exists, in_process, refused

EDGE = "mrg_edge-only-token"
ADMIN = "mrg_every-host-token"


def _files(directory: Path) -> tuple[Path, Path]:
    hosts = directory / "hosts.toml"
    hosts.write_text(
        '[[hosts]]\nname = "local"\nurl = "unix:///var/run/docker.sock"\ndefault = true\n\n'
        '[[hosts]]\nname = "edge-1"\nurl = "unix:///var/run/docker.sock"\n'
    )
    tokens = directory / "tokens.toml"
    tokens.write_text(
        f'[[tokens]]\nname = "edge-bot"\nrole = "admin"\nsha256 = "{hash_token(EDGE)}"\n'
        'hosts = ["edge-*"]\n\n'
        f'[[tokens]]\nname = "root-bot"\nrole = "admin"\nsha256 = "{hash_token(ADMIN)}"\n'
    )
    return hosts, tokens


@pytest.fixture(scope="module")
async def scoped(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    hosts, tokens = _files(tmp_path_factory.mktemp("scoped"))
    settings = Settings(hosts_file=hosts, tokens_file=tokens, audit_db=":memory:")
    async with in_process(settings) as pair:
        yield pair


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _spec(image: str, name: str) -> dict[str, Any]:
    return {
        "image": image,
        "name": name,
        "command": ["sleep", "60"],
        "labels": {TEST_LABEL: RUN_ID},
    }


def _forbidden(r: httpx.Response, host: str) -> None:
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "forbidden"
    assert repr(host) in r.json()["detail"]


async def test_a_host_outside_the_token_is_403_and_nothing_happens(
    scoped: tuple[FastAPI, httpx.AsyncClient], image: str, name: str
) -> None:
    _, c = scoped
    edge = _as(EDGE)
    # Create on a host the token may not use (named, or the default): refused, no container.
    for query in ("?host=local", ""):
        r = await c.post(f"/v1/containers{query}", json=_spec(image, name), headers=edge)
        _forbidden(r, "local")
        assert not exists("container", name)
    # Reads too: the routed path and the hot read.
    _forbidden(await c.get("/v1/containers", headers=edge), "local")
    _forbidden(await c.get("/v1/containers/whatever?host=local", headers=edge), "local")
    _forbidden(await c.get("/v1/containers/whatever", headers=edge), "local")
    _forbidden(await c.get("/v1/events?host=local", headers=edge), "local")
    # Several named: one outside is enough to refuse.
    r = await c.get("/v1/images", params=[("host", "edge-1"), ("host", "local")], headers=edge)
    _forbidden(r, "local")
    # Its own host works; the container is on the engine.
    r = await c.post("/v1/containers?host=edge-1", json=_spec(image, name), headers=edge)
    assert r.status_code == 201, r.text
    assert docker("inspect", "-f", "{{.State.Running}}", name).strip() == "true"
    r = await c.get(f"/v1/containers/{name}?host=edge-1", headers=edge)
    assert r.status_code == 200
    # The stop on `local` (the same engine, another host name) is refused: still running.
    _forbidden(await c.post(f"/v1/containers/{name}/stop?host=local", headers=edge), "local")
    assert docker("inspect", "-f", "{{.State.Running}}", name).strip() == "true"
    r = await c.delete(f"/v1/containers/{name}?host=edge-1&force=true", headers=edge)
    assert r.status_code == 204


async def test_star_means_the_hosts_the_token_may_use(
    scoped: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, c = scoped
    r = await c.get("/v1/containers?host=*&all=true", headers=_as(EDGE))
    assert r.status_code == 200, r.text
    assert {x["host"] for x in r.json()} <= {"edge-1"}
    r = await c.get("/v1/images?host=*", headers=_as(EDGE))
    assert {x["host"] for x in r.json()} == {"edge-1"}
    r = await c.get("/v1/images?host=*", headers=_as(ADMIN))
    assert {x["host"] for x in r.json()} == {"local", "edge-1"}
    # The hosts list shows what the token may use; another host is not found.
    r = await c.get("/v1/hosts", headers=_as(EDGE))
    assert [h["name"] for h in r.json()] == ["edge-1"]
    r = await c.get("/v1/hosts/local", headers=_as(EDGE))
    assert r.status_code == 404
    r = await c.get("/v1/hosts", headers=_as(ADMIN))
    assert [h["name"] for h in r.json()] == ["local", "edge-1"]


async def test_audit_records_the_host_of_each_change(
    scoped: tuple[FastAPI, httpx.AsyncClient], name: str
) -> None:
    _, c = scoped
    r = await c.post(
        "/v1/volumes?host=edge-1",
        json={"name": name, "labels": {TEST_LABEL: RUN_ID}},
        headers=_as(ADMIN),
    )
    assert r.status_code == 201, r.text
    r = await c.post("/v1/volumes", json={"name": name + "-x"}, headers=_as(EDGE))
    assert r.status_code == 403
    assert (await c.delete(f"/v1/volumes/{name}?host=local", headers=_as(ADMIN))).status_code == 204
    rows = (await c.get("/v1/audit?limit=20", headers=_as(ADMIN))).json()
    mine = [(row["action"], row["host"], row["outcome"]) for row in rows if name in row["target"]]
    assert ("volumes_create", "edge-1", "ok") in mine
    assert ("volumes_delete", "local", "ok") in mine
    # Refused before its body was read (so without a target): the host is known.
    refused = [r for r in rows if r["actor"] == "edge-bot" and r["action"] == "volumes_create"]
    assert refused[0]["host"] == "local"
    assert refused[0]["outcome"] == "refused"


async def test_a_host_s_own_policy_applies_there(tmp_path: Path, image: str, name: str) -> None:
    """`policy = "…"` in a host's table: that policy on that host (the other host, with
    no policy, allows what this one refuses). Refused: nothing made."""
    policy = tmp_path / "strict.toml"
    policy.write_text('bind_mount_prefixes = ["/srv/nothing-here"]\n')
    hosts = tmp_path / "hosts.toml"
    hosts.write_text(
        '[[hosts]]\nname = "local"\nurl = "unix:///var/run/docker.sock"\ndefault = true\n\n'
        '[[hosts]]\nname = "strict"\nurl = "unix:///var/run/docker.sock"\n'
        'policy = "strict.toml"\n'
    )
    mount = tmp_path / "data"
    mount.mkdir()
    body = {**_spec(image, name), "volumes": [f"{mount}:/data:ro"]}
    async with in_process(Settings(hosts_file=hosts, audit_db=":memory:")) as (_, c):
        r = await c.post("/v1/containers?host=strict", json=body)
        refused(r, "bind_mount_prefixes")
        assert not exists("container", name)
        r = await c.post("/v1/containers?host=local", json=body)
        assert r.status_code == 201, r.text
        assert (await c.delete(f"/v1/containers/{name}?force=true")).status_code == 204
