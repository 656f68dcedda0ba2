"""Push and pull against a local registry with htpasswd credentials
(scripts/registry-up.sh: 127.0.0.1:5000, loopback, which the engine treats as
insecure by default). Credentials work for one call and leak nowhere."""

from __future__ import annotations

import logging
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, LiveServer, docker, exists, inspect

REGISTRY = "127.0.0.1:5000"
USER = os.environ.get("MOORAGE_TEST_REGISTRY_USER", "moorage")
PASSWORD = os.environ.get("MOORAGE_TEST_REGISTRY_PASS", "moorage-test-pw")
WRONG = "wrong-pw-" + uuid.uuid4().hex[:8]
SECRETS = (PASSWORD, WRONG)


def _registry_answers() -> bool:
    """Ours answers 401 without credentials and 200 with them."""
    try:
        anonymous = httpx.get(f"http://{REGISTRY}/v2/", timeout=2).status_code
        with_auth = httpx.get(f"http://{REGISTRY}/v2/", auth=(USER, PASSWORD), timeout=2)
    except httpx.HTTPError:
        return False
    return anonymous == 401 and with_auth.status_code == 200


@pytest.fixture(scope="module", autouse=True)
def registry() -> None:
    if not _registry_answers():
        subprocess.run([str(ROOT / "scripts" / "registry-up.sh")], check=False, timeout=120)
    if not _registry_answers():
        pytest.skip(f"no local registry on {REGISTRY} (scripts/registry-up.sh)")


def auth(password: str = PASSWORD) -> dict[str, str]:
    return {"username": USER, "password": password}


@pytest.fixture
def repo(image: str) -> Iterator[str]:
    """A repository on the local registry, tagged locally from the test image."""
    value = f"{REGISTRY}/mt-reg-{uuid.uuid4().hex[:8]}/bb"
    docker("tag", image, f"{value}:1")
    yield value
    for line in docker("images", "--format", "{{.Repository}}:{{.Tag}}", value).split():
        docker("rmi", line, check=False)
    for digest in docker("images", "--digests", "--format", "{{.Digest}}", value).split():
        if digest.startswith("sha256:"):
            docker("rmi", f"{value}@{digest}", check=False)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def assert_denied(r: httpx.Response) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "registry-denied"
    assert REGISTRY in problem["detail"]
    assert_no_secret(r.text)


async def test_push_and_pull_with_credentials(
    client: httpx.AsyncClient, repo: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = await client.post("/v1/images/push", json={"repository": repo, "tag": "1", "auth": auth()})
    assert r.status_code == 200, r.text
    pushed = r.json()
    assert pushed["repository"] == repo
    assert pushed["tag"] == "1"
    assert pushed["digest"].startswith("sha256:")
    async with httpx.AsyncClient(auth=(USER, PASSWORD)) as reg:
        r = await reg.get(f"http://{REGISTRY}/v2/{repo.split('/', 1)[1]}/tags/list")
    tags = r.json()
    assert tags["tags"] == ["1"]

    docker("rmi", f"{repo}:1")
    r = await client.post("/v1/images/pull", json={"image": f"{repo}:1", "auth": auth()})
    assert r.status_code == 200, r.text
    image = r.json()
    assert f"{repo}:1" in image["tags"]
    assert f"{repo}@{pushed['digest']}" in image["digests"]
    assert exists("image", f"{repo}:1")

    # name@sha256:… is a reference like any other, for GET and for pull
    by_digest = f"{repo}@{pushed['digest']}"
    r = await client.get(f"/v1/images/{by_digest}")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == image["id"]
    r = await client.post("/v1/images/pull", json={"image": by_digest, "auth": auth()})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == image["id"]

    # registry data, without pulling (docker-py get_registry_data)
    r = await client.post("/v1/images/distribution", json={"image": f"{repo}:1", "auth": auth()})
    assert r.status_code == 200, r.text
    assert r.json()["digest"] == pushed["digest"]
    assert [p["os"] for p in r.json()["platforms"]] == ["linux"]
    assert_denied(await client.post("/v1/images/distribution", json={"image": f"{repo}:1"}))
    r = await client.post(
        "/v1/images/distribution", json={"image": f"{repo}-nope:1", "auth": auth()}
    )
    assert r.json()["code"] == "image-not-found"

    # tag given separately
    r = await client.post("/v1/images/pull", json={"image": repo, "tag": "1", "auth": auth()})
    assert r.status_code == 200, r.text
    assert_no_secret(caplog.text)
    for record in caplog.records:
        assert_no_secret(repr(record.args))


async def test_push_without_or_with_wrong_credentials_is_denied(
    client: httpx.AsyncClient, repo: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = await client.post("/v1/images/push", json={"repository": f"{repo}:1"})
    assert_denied(r)
    r = await client.post(
        "/v1/images/push", json={"repository": repo, "tag": "1", "auth": auth(WRONG)}
    )
    assert_denied(r)
    assert "credentials given" in r.json()["detail"]
    assert_no_secret(caplog.text)


async def test_pull_without_or_with_wrong_credentials_is_denied(
    client: httpx.AsyncClient, repo: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = await client.post("/v1/images/push", json={"repository": repo, "tag": "1", "auth": auth()})
    assert r.status_code == 200, r.text
    docker("rmi", f"{repo}:1")
    assert_denied(await client.post("/v1/images/pull", json={"image": f"{repo}:1"}))
    assert_denied(
        await client.post("/v1/images/pull", json={"image": f"{repo}:1", "auth": auth(WRONG)})
    )
    assert not exists("image", f"{repo}:1")
    assert_no_secret(caplog.text)


async def test_missing_images(client: httpx.AsyncClient) -> None:
    missing = f"{REGISTRY}/mt-reg-missing-{uuid.uuid4().hex[:6]}/nothing:1"
    r = await client.post("/v1/images/pull", json={"image": missing, "auth": auth()})
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "image-not-found"
    r = await client.post("/v1/images/push", json={"repository": missing, "auth": auth()})
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "image-not-found"


async def test_unreachable_registry_is_named(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/images/pull", json={"image": "127.0.0.1:5999/none/x:1"})
    assert r.status_code == 502, r.text
    assert r.json()["code"] == "registry-unreachable"
    assert "127.0.0.1:5999" in r.json()["detail"]


async def test_bad_auth_bodies_never_echo_the_secret(client: httpx.AsyncClient) -> None:
    bodies: list[dict[str, Any]] = [
        {"image": "x", "auth": {**auth(WRONG), "surprise": WRONG}},
        {"image": "x", "auth": {"password": WRONG}},
        {"image": "not a ref", "auth": auth(WRONG)},
    ]
    for body in bodies:
        r = await client.post("/v1/images/pull", json=body)
        assert r.status_code == 422, r.text
        assert_no_secret(r.text)


def test_live_server_logs_no_secret(live_server: LiveServer, image: str) -> None:
    repo = f"{REGISTRY}/mt-reg-live-{uuid.uuid4().hex[:6]}/bb"
    docker("tag", image, f"{repo}:1")
    try:
        with httpx.Client(base_url=live_server.url, timeout=60) as c:
            r = c.post("/v1/images/push", json={"repository": repo, "auth": auth(WRONG)})
            assert r.status_code == 403
            r = c.post("/v1/images/push", json={"repository": repo, "auth": auth()})
            assert r.status_code == 200, r.text
            r = c.post("/v1/images/pull", json={"image": f"{repo}:1", "auth": auth(WRONG)})
            assert r.status_code == 403
        assert_no_secret(live_server.log.read_text())
        registry_log = Path(os.environ.get("MOORAGE_TEST_REGISTRY_DIR", "/tmp/moorage-registry"))
        if (registry_log / "registry.log").exists():  # nor does the request reach it in clear
            assert_no_secret((registry_log / "registry.log").read_text())
    finally:
        docker("rmi", f"{repo}:1", check=False)


def test_engine_reaches_the_loopback_registry_without_daemon_changes() -> None:
    registries = inspect("image", "moorage-test/busybox:latest") and docker(
        "info", "--format", "{{json .RegistryConfig.InsecureRegistryCIDRs}}"
    )
    assert "127.0.0.0/8" in registries


async def test_generators_give_progress_then_done(repo: str, image: str) -> None:
    """The generators an SSE route wraps: progress (and log) events, then `done`."""
    from app.engine import Engine
    from app.models.images import BuildOptions, BuildSpec, PullRequest, PushRequest, RegistryAuth
    from app.services import images as svc
    from app.settings import Settings

    engine = Engine(Settings())
    secret = RegistryAuth(username=USER, password=PASSWORD)
    try:
        pushed = [ev async for ev in svc.push(engine, PushRequest(repository=repo, auth=secret))]
        assert {ev.event for ev in pushed[:-1]} == {"progress"}
        assert all(isinstance(ev.data["status"], str) for ev in pushed[:-1])
        assert any(ev.data["id"] for ev in pushed[:-1])
        assert pushed[-1].event == "done"
        assert pushed[-1].data["digest"].startswith("sha256:")

        pulled = [ev async for ev in svc.pull(engine, PullRequest(image=f"{repo}:1", auth=secret))]
        assert pulled[-1].event == "done"
        assert f"{repo}:1" in pulled[-1].data["tags"]
        assert all(set(ev.data) == {"id", "status", "current", "total"} for ev in pulled[:-1])

        ctx = svc.context_tar(BuildSpec(dockerfile=f"FROM {image}\nLABEL x=1\n"))
        built = [ev async for ev in svc.build(engine, ctx, BuildOptions())]
        assert [ev.event for ev in built][-1] == "done"
        assert any("LABEL x=1" in ev.data.get("line", "") for ev in built)
        docker("rmi", built[-1].data["image"], check=False)
    finally:
        await engine.close()
