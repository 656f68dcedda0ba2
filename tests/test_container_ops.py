"""commit, changes, export, recreate (all or nothing) and image-update, against the
real engine (and the local htpasswd registry for image-update)."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import tarfile
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RUN_ID, TEST_IMAGE, TEST_LABEL, docker, exists, inspect, remove_tags
from tests.test_registry import REGISTRY, auth, registry  # noqa: F401 (the fixture)

LABEL = ["--label", f"{TEST_LABEL}={RUN_ID}"]


def build(tag: str, dockerfile: str) -> str:
    """`docker build` of a context-less Dockerfile; gives the image id."""
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, "-"],
        input=dockerfile,
        text=True,
        capture_output=True,
        check=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
        timeout=300,  # the shared machine is slow at times
    )
    return str(inspect("image", tag)["Id"])


@pytest.fixture
def repo() -> Iterator[str]:
    """A local repository name for this test; its images are removed after."""
    value = f"mt-dp-{uuid.uuid4().hex[:8]}"
    yield value
    remove_tags(value)


@pytest.fixture
def sleeper(name: str) -> str:
    docker("run", "-d", "--network", "none", *LABEL, "--name", name, TEST_IMAGE,
           "sh", "-c", "echo hi > /made; rm -f /bin/true; sleep 600")  # fmt: skip
    docker("exec", name, "sh", "-c", "while [ ! -e /made ]; do sleep 0.05; done")
    return name


# --- commit, changes, export -------------------------------------------------------------


async def test_commit(client: httpx.AsyncClient, sleeper: str, repo: str) -> None:
    r = await client.post(
        f"/v1/containers/{sleeper}/commit",
        json={
            "repository": repo,
            "tag": "snap",
            "message": "a snapshot",
            "author": "moorage test",
            "changes": ["ENV COMMITTED=1", "LABEL made.by=commit"],
        },
    )
    assert r.status_code == 201, r.text
    image = inspect("image", f"{repo}:snap")
    assert r.json()["id"] == image["Id"]
    assert image["Comment"] == "a snapshot"
    assert image["Author"] == "moorage test"
    assert "COMMITTED=1" in image["Config"]["Env"]
    assert image["Config"]["Labels"]["made.by"] == "commit"
    out = docker("run", "--rm", "--network", "none", *LABEL, f"{repo}:snap", "cat", "/made")
    assert out.strip() == "hi"


async def test_commit_refuses_an_instruction_it_cannot_apply(
    client: httpx.AsyncClient, sleeper: str, repo: str
) -> None:
    r = await client.post(
        f"/v1/containers/{sleeper}/commit",
        json={"repository": repo, "tag": "x", "changes": ["RUN rm -rf /"]},
    )
    assert r.status_code == 422, r.text
    assert "RUN" in r.text
    assert not exists("image", f"{repo}:x")


async def test_commit_of_a_missing_container(client: httpx.AsyncClient, repo: str) -> None:
    r = await client.post(f"/v1/containers/mt-nope-{uuid.uuid4().hex[:6]}/commit", json={})
    assert r.status_code == 404
    assert r.json()["code"] == "container-not-found"


async def test_changes(client: httpx.AsyncClient, sleeper: str) -> None:
    r = await client.get(f"/v1/containers/{sleeper}/changes")
    assert r.status_code == 200, r.text
    changes = {(c["path"], c["kind"]) for c in r.json()}
    assert ("/made", "added") in changes
    assert ("/bin/true", "deleted") in changes
    assert ("/bin", "modified") in changes


async def test_export_is_the_filesystem(client: httpx.AsyncClient, sleeper: str) -> None:
    r = await client.get(f"/v1/containers/{sleeper}/export")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        names = set(tar.getnames())
        made = tar.extractfile("made")
        assert made is not None
        assert made.read() == b"hi\n"
    assert "bin/busybox" in names


async def test_export_of_a_missing_container(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/v1/containers/mt-nope-{uuid.uuid4().hex[:6]}/export")
    assert r.status_code == 404
    assert r.json()["code"] == "container-not-found"


# --- recreate ----------------------------------------------------------------------------


@pytest.fixture
def app_on_v1(name: str, repo: str) -> Iterator[dict[str, str]]:
    """A container on repo:latest (v1) with a network alias, a named volume holding
    data, an environment variable and a published port."""
    v1 = build(f"{repo}:latest", f'FROM {TEST_IMAGE}\nLABEL v=1\nCMD ["sleep", "600"]\n')
    net, vol = f"{name}-net", f"{name}-vol"
    docker("network", "create", *LABEL, net)
    docker("volume", "create", *LABEL, vol)
    docker("run", "-d", *LABEL, "--label", "own=kept", "--name", name, "--network", net,
           "--network-alias", "web", "-v", f"{vol}:/data", "-e", "KEEP=1",
           "-p", "127.0.0.1::8000", f"{repo}:latest")  # fmt: skip
    docker("exec", name, "sh", "-c", "echo kept > /data/f")
    old = inspect("container", name)["Id"]
    yield {"name": name, "repo": repo, "v1": v1, "net": net, "vol": vol, "old": old}
    docker("rm", "-f", name, check=False)
    for c in docker("ps", "-aq", "--filter", f"name={name}").split():
        docker("rm", "-f", c, check=False)
    docker("network", "rm", net, check=False)
    docker("volume", "rm", vol, check=False)


@pytest.mark.slow
async def test_recreate_on_a_newer_image(
    client: httpx.AsyncClient, app_on_v1: dict[str, str]
) -> None:
    a = app_on_v1
    v2 = build(f"{a['repo']}:latest", f'FROM {TEST_IMAGE}\nLABEL v=2\nCMD ["sleep", "600"]\n')
    r = await client.post(f"/v1/containers/{a['name']}/recreate", json={"pull": False})
    assert r.status_code == 200, r.text
    doc = inspect("container", a["name"])
    assert r.json()["id"] == doc["Id"] != a["old"]
    assert doc["Image"] == v2
    assert doc["State"]["Running"] is True
    assert not exists("container", a["old"])
    assert "KEEP=1" in doc["Config"]["Env"]
    assert doc["Config"]["Labels"]["own"] == "kept"
    assert doc["Config"]["Labels"]["v"] == "2"  # the new image's, not the old one's
    assert "web" in doc["NetworkSettings"]["Networks"][a["net"]]["Aliases"]
    assert doc["HostConfig"]["PortBindings"]["8000/tcp"][0]["HostIp"] == "127.0.0.1"
    assert docker("exec", a["name"], "cat", "/data/f").strip() == "kept"


@pytest.mark.slow
async def test_recreate_that_cannot_start_puts_the_old_one_back(
    client: httpx.AsyncClient, app_on_v1: dict[str, str]
) -> None:
    a = app_on_v1
    broken = f"{a['repo']}:broken"
    build(broken, f'FROM {TEST_IMAGE}\nENTRYPOINT ["/nonexistent"]\n')
    before = docker("ps", "-aq", "--no-trunc", "--filter", f"label={TEST_LABEL}={RUN_ID}").split()
    r = await client.post(
        f"/v1/containers/{a['name']}/recreate", json={"pull": False, "image": broken}
    )
    assert r.status_code == 400, r.text
    doc = inspect("container", a["name"])
    assert doc["Id"] == a["old"]
    assert doc["State"]["Running"] is True
    assert doc["Image"] == a["v1"]
    after = docker("ps", "-aq", "--no-trunc", "--filter", f"label={TEST_LABEL}={RUN_ID}").split()
    assert set(after) <= set(before)  # the new one is gone
    assert docker("exec", a["name"], "cat", "/data/f").strip() == "kept"


async def test_recreate_of_an_auto_remove_container_is_a_conflict(
    client: httpx.AsyncClient, name: str
) -> None:
    docker("run", "-d", "--rm", "--network", "none", *LABEL, "--name", name, TEST_IMAGE,
           "sleep", "600")  # fmt: skip
    old = inspect("container", name)["Id"]
    r = await client.post(f"/v1/containers/{name}/recreate", json={"pull": False})
    assert r.status_code == 409, r.text
    assert inspect("container", name)["Id"] == old


async def test_recreate_of_a_missing_container(client: httpx.AsyncClient) -> None:
    r = await client.post(f"/v1/containers/mt-nope-{uuid.uuid4().hex[:6]}/recreate", json={})
    assert r.status_code == 404


# --- image-update (with the local registry) ----------------------------------------------


def _header(password: str | None = None) -> dict[str, str]:
    creds = auth(password) if password else auth()
    return {"X-Registry-Auth": base64.urlsafe_b64encode(json.dumps(creds).encode()).decode()}


@pytest.fixture
def pushed(client: httpx.AsyncClient, name: str) -> Iterator[str]:
    ref = f"{REGISTRY}/mt-dp-{uuid.uuid4().hex[:8]}/app:1"
    build(ref, f'FROM {TEST_IMAGE}\nLABEL v=1\nCMD ["sleep", "600"]\n')
    yield ref
    docker("rm", "-f", name, check=False)
    repository = ref.rsplit(":", 1)[0]
    remove_tags(repository)
    for digest in docker("images", "--digests", "--format", "{{.Digest}}", repository).split():
        if digest.startswith("sha256:"):
            docker("rmi", "-f", f"{repository}@{digest}", check=False)


@pytest.mark.slow
async def test_image_update_and_recreate_with_pull(
    client: httpx.AsyncClient, pushed: str, name: str
) -> None:
    repository, tag = pushed.rsplit(":", 1)
    r = await client.post("/v1/images/push", json={"repository": repository, "tag": tag,
                                                   "auth": auth()})  # fmt: skip
    assert r.status_code == 200, r.text
    first = r.json()["digest"]
    docker("run", "-d", "--network", "none", *LABEL, "--name", name, pushed)

    r = await client.get(f"/v1/containers/{name}/image-update", headers=_header())
    assert r.status_code == 200, r.text
    assert r.json() == {
        "image": pushed,
        "current_digest": first,
        "registry_digest": first,
        "update_available": False,
    }

    # A newer image behind the same tag, pushed from elsewhere.
    build(pushed, f'FROM {TEST_IMAGE}\nLABEL v=2\nCMD ["sleep", "600"]\n')
    r = await client.post("/v1/images/push", json={"repository": repository, "tag": tag,
                                                   "auth": auth()})  # fmt: skip
    second = r.json()["digest"]
    assert second != first
    docker("rmi", "-f", pushed)  # this host has only the old image now (the container's)

    r = await client.get(f"/v1/containers/{name}/image-update", headers=_header())
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["current_digest"], body["registry_digest"], body["update_available"]) == (
        first,
        second,
        True,
    )

    r = await client.post(f"/v1/containers/{name}/recreate", json={"auth": auth()})
    assert r.status_code == 200, r.text
    doc = inspect("container", name)
    assert any(d.endswith(second) for d in inspect("image", doc["Image"])["RepoDigests"])
    r = await client.get(f"/v1/containers/{name}/image-update", headers=_header())
    assert r.json()["update_available"] is False


async def test_image_update_with_wrong_credentials_is_registry_denied(
    client: httpx.AsyncClient, pushed: str, name: str
) -> None:
    docker("run", "-d", "--network", "none", *LABEL, "--name", name, pushed)
    r = await client.get(
        f"/v1/containers/{name}/image-update", headers=_header("wrong-" + uuid.uuid4().hex)
    )
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "registry-denied"
    assert REGISTRY in r.json()["detail"]


async def test_image_update_bad_header_is_422(client: httpx.AsyncClient, sleeper: str) -> None:
    r = await client.get(
        f"/v1/containers/{sleeper}/image-update", headers={"X-Registry-Auth": "%%%"}
    )
    assert r.status_code == 422, r.text


async def test_image_update_of_a_container_made_from_an_id(
    client: httpx.AsyncClient, name: str
) -> None:
    image_id = inspect("image", TEST_IMAGE)["Id"]
    docker("create", "--network", "none", *LABEL, "--name", name, image_id, "true")
    r = await client.get(f"/v1/containers/{name}/image-update")
    assert r.status_code == 409, r.text


async def test_commit_blank_change_is_422(client: httpx.AsyncClient, sleeper: str) -> None:
    r = await client.post(f"/v1/containers/{sleeper}/commit", json={"changes": [" "]})
    assert r.status_code == 422, r.text
