"""docker-py's image calls beyond pull/push/build basics: search, pull `all_tags`, every
build keyword, build-cache prune, and `login` (`POST /v1/system/auth`), against the
real engine and the local htpasswd registry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_IMAGE, docker, exists, remove_tags
from tests.test_registry import PASSWORD, REGISTRY, USER, auth, registry  # noqa: F401

# --- search ------------------------------------------------------------------------------


async def test_search_without_internet_names_the_registry(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/images/search", params={"term": "busybox", "limit": 3})
    assert r.status_code == 502, r.text
    problem = r.json()
    assert problem["code"] == "registry-unreachable"
    assert "index.docker.io" in problem["detail"]


async def test_search_of_a_registry_that_is_down(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/images/search", params={"term": "127.0.0.1:1/app"})
    assert r.status_code == 502, r.text
    assert r.json()["code"] == "registry-unreachable"
    assert "127.0.0.1:1" in r.json()["detail"]


@pytest.mark.parametrize("params", [{}, {"term": "x", "limit": 0}, {"term": "a b"}])
async def test_search_bad_query_is_422(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    r = await client.get("/v1/images/search", params=params)
    assert r.status_code == 422, r.text


# --- login -------------------------------------------------------------------------------


async def test_login_checks_credentials(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/system/auth", json={"username": USER, "password": PASSWORD, "registry": REGISTRY}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "Login Succeeded"
    assert PASSWORD not in r.text


async def test_login_with_a_wrong_password_is_registry_denied(client: httpx.AsyncClient) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    r = await client.post(
        "/v1/system/auth", json={"username": USER, "password": wrong, "registry": REGISTRY}
    )
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "registry-denied"
    assert REGISTRY in r.json()["detail"]
    assert wrong not in r.text


async def test_login_stores_nothing(client: httpx.AsyncClient, image: str) -> None:
    """After a login, a push without `auth` is still refused: nothing was kept."""
    r = await client.post(
        "/v1/system/auth", json={"username": USER, "password": PASSWORD, "registry": REGISTRY}
    )
    assert r.status_code == 200
    repo = f"{REGISTRY}/mt-login-{uuid.uuid4().hex[:8]}/bb"
    docker("tag", image, f"{repo}:1")
    try:
        r = await client.post("/v1/images/push", json={"repository": repo, "tag": "1"})
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "registry-denied"
    finally:
        docker("rmi", f"{repo}:1", check=False)


async def test_login_to_a_registry_that_is_down(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/system/auth", json={"username": USER, "password": "x", "registry": "127.0.0.1:1"}
    )
    assert r.status_code == 502, r.text
    assert r.json()["code"] == "registry-unreachable"


# --- pull all_tags -----------------------------------------------------------------------


@pytest.fixture
def two_tags(image: str) -> Iterator[str]:
    repo = f"{REGISTRY}/mt-alltags-{uuid.uuid4().hex[:8]}/bb"
    for tag in ("1", "2"):
        docker("tag", image, f"{repo}:{tag}")
    yield repo
    for tag in ("1", "2"):
        docker("rmi", f"{repo}:{tag}", check=False)


@pytest.mark.slow
async def test_pull_all_tags(client: httpx.AsyncClient, two_tags: str) -> None:
    for tag in ("1", "2"):
        r = await client.post(
            "/v1/images/push", json={"repository": two_tags, "tag": tag, "auth": auth()}
        )
        assert r.status_code == 200, r.text
        docker("rmi", f"{two_tags}:{tag}")
    r = await client.post(
        "/v1/images/pull", json={"image": two_tags, "all_tags": True, "auth": auth()}
    )
    assert r.status_code == 200, r.text
    tags = sorted(t for i in r.json() for t in i["tags"])
    assert tags == [f"{two_tags}:1", f"{two_tags}:2"]
    assert exists("image", f"{two_tags}:1")
    assert exists("image", f"{two_tags}:2")


async def test_pull_all_tags_with_a_tag_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/images/pull", json={"image": "busybox:1", "all_tags": True})
    assert r.status_code == 422, r.text
    assert "all_tags" in r.text


# --- build keywords ----------------------------------------------------------------------


@pytest.fixture
def tag() -> Iterator[str]:
    value = f"mt-build-dp-{uuid.uuid4().hex[:8]}"
    yield value
    remove_tags(value)


PROBE = (
    f"FROM {TEST_IMAGE}\n"
    "RUN cat /etc/hosts; df -k /dev/shm; cat /sys/fs/cgroup/memory/memory.limit_in_bytes;"
    " cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us; echo probe-{nonce}\n"
)


async def _build(client: httpx.AsyncClient, **body: object) -> httpx.Response:
    return await client.post("/v1/images/build", json=body, timeout=120)


@pytest.mark.slow
async def test_build_extra_hosts_shmsize_and_container_limits(
    client: httpx.AsyncClient, tag: str
) -> None:
    r = await _build(
        client,
        dockerfile=PROBE.format(nonce=uuid.uuid4().hex),
        tag=tag,
        extra_hosts={"db.build": "10.1.2.3", "gw.build": "10.1.2.4"},
        shmsize="32m",
        container_limits={"memory": "64m", "memswap": -1, "cpuperiod": 100000, "cpuquota": 50000},
    )
    assert r.status_code == 200, r.text
    logs = r.json()["logs"]
    assert "10.1.2.3\tdb.build" in logs
    assert "10.1.2.4\tgw.build" in logs
    assert "32768" in logs  # /dev/shm: 32 MiB in 1K blocks
    assert str(64 << 20) in logs  # the RUN step's memory limit
    assert "\n50000\n" in logs  # its CPU quota


@pytest.mark.slow
async def test_build_quiet(client: httpx.AsyncClient, tag: str) -> None:
    r = await _build(client, dockerfile=PROBE.format(nonce=uuid.uuid4().hex), tag=tag, quiet=True)
    assert r.status_code == 200, r.text
    assert "Step 1/" not in r.json()["logs"]
    assert r.json()["image"] in r.json()["logs"]
    assert exists("image", tag)


@pytest.mark.slow
async def test_build_cache_from(client: httpx.AsyncClient, tag: str) -> None:
    dockerfile = PROBE.format(nonce=uuid.uuid4().hex)
    first = await _build(client, dockerfile=dockerfile, tag=f"{tag}:a")
    assert first.status_code == 200, first.text
    # Cache only from an image that has none of these layers: nothing is reused.
    other = await _build(client, dockerfile=dockerfile, tag=f"{tag}:b", cache_from=[TEST_IMAGE])
    assert "Using cache" not in other.json()["logs"]
    # Cache from the first build: its layer is reused.
    again = await _build(client, dockerfile=dockerfile, tag=f"{tag}:c", cache_from=[f"{tag}:a"])
    assert "Using cache" in again.json()["logs"]


async def test_build_squash_needs_an_experimental_engine(
    client: httpx.AsyncClient, tag: str
) -> None:
    r = await _build(client, dockerfile=f"FROM {TEST_IMAGE}\n", tag=tag, squash=True)
    assert r.status_code == 422, r.text
    assert "experimental" in r.text
    assert not exists("image", tag)


async def test_build_tar_form_takes_the_keywords_as_query(
    client: httpx.AsyncClient, tag: str
) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = f"FROM {TEST_IMAGE}\nRUN cat /etc/hosts # {uuid.uuid4().hex}\n".encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    r = await client.post(
        "/v1/images/build",
        params={
            "tag": tag,
            "extra_hosts": ["q.build:10.9.8.7"],
            "shmsize": "16m",
            "container_limits": '{"memory": "64m"}',
        },
        content=buf.getvalue(),
        headers={"Content-Type": "application/x-tar"},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    assert "10.9.8.7\tq.build" in r.json()["logs"]


@pytest.mark.parametrize(
    "params",
    [{"shmsize": "lots"}, {"container_limits": "[1]"}, {"container_limits": '{"cpus": 1}'},
     {"extra_hosts": ["nocolon"]}],
)  # fmt: skip
async def test_build_bad_keywords_are_422(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    r = await client.post(
        "/v1/images/build",
        params=params,
        content=b"not read",
        headers={"Content-Type": "application/x-tar"},
    )
    assert r.status_code == 422, r.text


# --- build-cache prune -------------------------------------------------------------------


async def test_prune_builds(client: httpx.AsyncClient) -> None:
    """Filtered to a cache id nobody has: the shared engine's cache is left alone."""
    r = await client.post(
        "/v1/images/prune-builds", json={"filters": {"id": f"mt-none-{uuid.uuid4().hex}"}}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"deleted": [], "space_reclaimed": 0}


async def test_prune_builds_unknown_filter_is_4xx(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/images/prune-builds", json={"filters": {"colour": "red"}})
    assert 400 <= r.status_code < 500, r.text


async def test_pull_unknown_platform_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/images/pull", json={"image": TEST_IMAGE, "platform": "0"})
    assert r.status_code == 422, r.text
    assert "platform" in r.text


@pytest.mark.parametrize("platform", [":", "linux/", "a b"])
async def test_pull_malformed_platform_is_422(client: httpx.AsyncClient, platform: str) -> None:
    r = await client.post("/v1/images/pull", json={"image": TEST_IMAGE, "platform": platform})
    assert r.status_code == 422, r.text
