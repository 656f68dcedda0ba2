"""Images: every reference form, history, tag, remove, prune, export and load."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import tarfile
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app import errors
from app.models.images import RegistryAuth
from app.services.images import check_image_ref, engine_filters, looks_like_tar, tar_stream
from app.services.registry_auth import encode_auth, parse_reference, registry_of
from tests.conftest import RUN_ID, TEST_LABEL, docker, exists, inspect, tar_of

# --- unit: pure translation ------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "repository", "tag", "digest"),
    [
        ("busybox", "busybox", None, None),
        ("busybox:1.36", "busybox", "1.36", None),
        ("team/app:1.0", "team/app", "1.0", None),
        ("127.0.0.1:5000/team/app:1.0", "127.0.0.1:5000/team/app", "1.0", None),
        ("127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app", None, None),
        ("app@sha256:" + "a" * 64, "app", None, "sha256:" + "a" * 64),
        ("h:1/a:t@sha256:" + "b" * 64, "h:1/a", "t", "sha256:" + "b" * 64),
    ],
)
def test_parse_reference(ref: str, repository: str, tag: str | None, digest: str | None) -> None:
    parsed = parse_reference(ref)
    assert (parsed.repository, parsed.tag, parsed.digest) == (repository, tag, digest)


@pytest.mark.parametrize(
    ("repository", "registry"),
    [
        ("nginx", "docker.io"),
        ("user/repo", "docker.io"),
        ("library/nginx", "docker.io"),
        ("localhost/app", "localhost"),
        ("localhost:5000/app", "localhost:5000"),
        ("127.0.0.1:5000/team/app", "127.0.0.1:5000"),
        ("registry.local/team/app", "registry.local"),
    ],
)
def test_registry_of(repository: str, registry: str) -> None:
    assert registry_of(repository) == registry


def _decode(header: str) -> dict[str, str]:
    doc: dict[str, str] = json.loads(base64.urlsafe_b64decode(header))
    return doc


def test_encode_auth() -> None:
    assert _decode(encode_auth(None, "docker.io")) == {}
    auth = RegistryAuth(username="u", password="p")
    assert _decode(encode_auth(auth, "127.0.0.1:5000")) == {
        "username": "u",
        "password": "p",
        "serveraddress": "127.0.0.1:5000",
    }
    assert _decode(encode_auth(auth, "docker.io"))["serveraddress"] == (
        "https://index.docker.io/v1/"
    )
    token = RegistryAuth(identitytoken="tok", serveraddress="r.example")
    assert _decode(encode_auth(token, "x")) == {
        "identitytoken": "tok",
        "serveraddress": "r.example",
    }
    assert "p" not in repr(auth).replace("password", "")  # masked


def test_check_image_ref() -> None:
    for good in ("a", "a:b", "h:5000/t/a:1", "a@sha256:" + "0" * 64, "sha256:abc", "0123abcd"):
        assert check_image_ref(good) == good
    for bad in ("../x", "a//b", "a/", "-a", "a b", "a?b", "x" * 600):
        with pytest.raises(errors.ValidationFailed):
            check_image_ref(bad)


def test_looks_like_tar() -> None:
    assert looks_like_tar(tar_of({"a": b"x"}))
    assert looks_like_tar(bytes(1024))
    assert looks_like_tar(b"\x1f\x8b\x08rest")
    assert not looks_like_tar(b"not a tar at all" * 64)
    assert not looks_like_tar(b"short")


async def test_tar_stream_checks_the_head_only() -> None:
    data = tar_of({f"f{i}": b"x" * 100 for i in range(20)})

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 100):
            yield data[i : i + 100]

    out = b"".join([c async for c in await tar_stream(chunks(), "ctx")])
    assert out == data

    async def junk() -> AsyncIterator[bytes]:
        yield b"{" * 600

    with pytest.raises(errors.BadRequest):
        await tar_stream(junk(), "ctx")


def test_engine_filters() -> None:
    assert engine_filters({"label": "a=b", "dangling": True, "until": ["1h"]}) == {
        "label": ["a=b"],
        "dangling": ["true"],
        "until": ["1h"],
    }


# --- against the engine ------------------------------------------------------------


@pytest.fixture(scope="module")
def built(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A small image of our own with a few tags (every form of reference)."""
    suffix = uuid.uuid4().hex[:6]
    name = f"mt-images-{suffix}/app"
    df = f"FROM {image}\nLABEL {TEST_LABEL}={RUN_ID}\nRUN echo {suffix} > /marker\n"
    ctx = tmp_path_factory.mktemp("ctx")
    (ctx / "Dockerfile").write_text(df)
    proc = subprocess.run(
        ["docker", "build", "-q", "--network", "none", "-t", f"{name}:1.0", str(ctx)],
        capture_output=True,
        check=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )
    image_id = proc.stdout.decode().strip()
    registry_name = f"127.0.0.1:5000/mt-team-{suffix}/app"
    docker("tag", f"{name}:1.0", f"{name}:latest")
    docker("tag", f"{name}:1.0", f"{registry_name}:2.0")
    yield {"name": name, "id": image_id, "registry_name": registry_name}
    docker("rmi", "-f", image_id, check=False)


@pytest.mark.parametrize(
    "form", ["name", "name:tag", "registry/team/name:tag", "id", "short id", "bare short id"]
)
async def test_get_every_reference_form(
    client: httpx.AsyncClient, built: dict[str, str], form: str
) -> None:
    ref = {
        "name": built["name"],
        "name:tag": f"{built['name']}:1.0",
        "registry/team/name:tag": f"{built['registry_name']}:2.0",
        "id": built["id"],
        "short id": built["id"][:19],
        "bare short id": built["id"].removeprefix("sha256:")[:12],
    }[form]
    r = await client.get(f"/v1/images/{ref}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == built["id"]
    assert body["short_id"] == built["id"][:19]
    assert f"{built['name']}:1.0" in body["tags"]
    assert body["labels"][TEST_LABEL] == RUN_ID
    assert body["architecture"]
    assert body["os"] == "linux"
    assert body["size"] == inspect("image", built["id"])["Size"]
    assert body["attrs"]["Id"] == built["id"]


async def test_get_unknown_image_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/images/mt-nope/none:1")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "image-not-found"
    # the fixed paths are not references, but a GET of one is an image name
    r = await client.get("/v1/images/pull")
    assert r.json()["code"] == "image-not-found"


async def test_bad_reference_is_422(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/images/a%20b")
    assert r.status_code == 422
    assert r.json()["code"] == "validation-error"


async def test_list_filters(client: httpx.AsyncClient, built: dict[str, str]) -> None:
    r = await client.get("/v1/images", params={"label": f"{TEST_LABEL}={RUN_ID}"})
    assert r.status_code == 200
    assert built["id"] in [i["id"] for i in r.json()]
    r = await client.get("/v1/images", params={"reference": f"{built['name']}:*"})
    tags = {t for i in r.json() for t in i["tags"]}
    assert tags == {f"{built['name']}:1.0", f"{built['name']}:latest"}
    r = await client.get("/v1/images", params={"reference": built["name"], "dangling": "true"})
    assert r.json() == []
    r = await client.get("/v1/images", params={"label": "=bad"})
    assert r.status_code == 422


async def test_history(client: httpx.AsyncClient, built: dict[str, str]) -> None:
    for ref in (f"{built['name']}:1.0", f"{built['registry_name']}:2.0"):
        r = await client.get(f"/v1/images/{ref}/history")
        assert r.status_code == 200, r.text
        layers = r.json()
        assert layers[0]["id"] == built["id"]
        assert any("/marker" in layer["created_by"] for layer in layers)
    r = await client.get("/v1/images/mt-nope/x:1/history")
    assert r.json()["code"] == "image-not-found"


async def test_tag_and_untag(client: httpx.AsyncClient, built: dict[str, str]) -> None:
    repo = f"127.0.0.1:5000/mt-tag-{uuid.uuid4().hex[:6]}/copy"
    r = await client.post(
        f"/v1/images/{built['name']}:1.0/tag", json={"repository": repo, "tag": "v9"}
    )
    assert r.status_code == 201, r.text
    assert f"{repo}:v9" in r.json()["tags"]
    assert inspect("image", f"{repo}:v9")["Id"] == built["id"]

    r = await client.delete(f"/v1/images/{repo}:v9")
    assert r.status_code == 204
    assert not exists("image", f"{repo}:v9")
    assert exists("image", built["id"])  # untag only

    r = await client.post("/v1/images/mt-nope:1/tag", json={"repository": "x/y"})
    assert r.status_code == 404
    assert r.json()["code"] == "image-not-found"
    r = await client.post(
        f"/v1/images/{built['name']}:1.0/tag", json={"repository": "x/y:tag-here"}
    )
    assert r.status_code == 422
    r = await client.post(
        f"/v1/images/{built['name']}:1.0/tag", json={"repository": "x/y", "colour": 1}
    )
    assert r.status_code == 422
    assert "colour" in r.json()["detail"]


async def test_delete_in_use_and_not_found(
    client: httpx.AsyncClient, image: str, name: str
) -> None:
    tag = f"mt-inuse-{uuid.uuid4().hex[:6]}/x:1"
    r = await client.post(
        "/v1/images/build",
        json={"dockerfile": f"FROM {image}\nLABEL {TEST_LABEL}={RUN_ID}\n", "tag": tag},
    )
    image_id = r.json()["image"]
    docker("create", "--name", name, "--label", f"{TEST_LABEL}={RUN_ID}", tag, "true")
    try:
        for ref in (tag, image_id):  # a stopped container uses it: refused without force
            r = await client.delete(f"/v1/images/{ref}")
            assert r.status_code == 409, r.text
            assert r.json()["code"] == "in-use"
            assert r.headers["content-type"] == "application/problem+json"
            assert exists("image", tag)
        r = await client.delete(f"/v1/images/{tag}", params={"force": "true"})
        assert r.status_code == 204
        assert not exists("image", tag)
    finally:
        docker("rm", "-f", name)
        docker("rmi", "-f", image_id, check=False)
    r = await client.delete("/v1/images/mt-nope/none:1")
    assert r.status_code == 404
    assert r.json()["code"] == "image-not-found"


async def test_delete_by_id_with_several_tags_is_a_conflict(
    client: httpx.AsyncClient, built: dict[str, str]
) -> None:
    r = await client.delete(f"/v1/images/{built['id']}")
    assert r.status_code == 409
    assert r.json()["code"] == "conflict"
    assert exists("image", built["id"])


async def test_export_then_load(client: httpx.AsyncClient, image: str) -> None:
    suffix = uuid.uuid4().hex[:6]
    tag = f"127.0.0.1:5000/mt-export-{suffix}/bb:1"
    docker("tag", image, tag)
    try:
        async with client.stream("GET", f"/v1/images/{tag}/export") as r:
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/x-tar"
            data = b"".join([c async for c in r.aiter_bytes()])
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            names = tar.getnames()
        assert "manifest.json" in names
        docker("rmi", tag)
        r = await client.post(
            "/v1/images/load", content=data, headers={"Content-Type": "application/x-tar"}
        )
        assert r.status_code == 200, r.text
        loaded = r.json()["images"]
        assert [tag] == [t for i in loaded for t in i["tags"] if t == tag]
        assert exists("image", tag)
    finally:
        docker("rmi", tag, check=False)


async def test_export_unknown_and_load_garbage(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/images/mt-nope/x:1/export")
    assert r.status_code == 404
    assert r.json()["code"] == "image-not-found"
    r = await client.post(
        "/v1/images/load", content=b"hello" * 300, headers={"Content-Type": "application/x-tar"}
    )
    assert r.status_code == 400
    assert r.json()["code"] == "bad-request"
    r = await client.post("/v1/images/load", json={"a": 1})
    assert r.status_code == 415


async def test_prune_dangling_with_label_filter(client: httpx.AsyncClient, image: str) -> None:
    tag = f"mt-prune-{uuid.uuid4().hex[:6]}/x:1"
    ids = []
    for n in range(2):  # the second build takes the tag: the first becomes dangling
        r = await client.post(
            "/v1/images/build",
            json={
                "dockerfile": f"FROM {image}\nLABEL n={n}\n",
                "tag": tag,
                "labels": {TEST_LABEL: RUN_ID},
            },
        )
        assert r.status_code == 200, r.text
        ids.append(r.json()["image"])
    try:
        r = await client.post(
            "/v1/images/prune", json={"filters": {"label": f"{TEST_LABEL}={RUN_ID}"}}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert ids[0] in body["deleted"]
        assert ids[1] not in body["deleted"]
        assert not exists("image", ids[0])
        assert body["space_reclaimed"] >= 0
        r = await client.post("/v1/images/prune", json={"filters": {"nonsense": "1"}})
        assert r.status_code == 400
    finally:
        docker("rmi", "-f", *ids, check=False)


async def test_openapi_documents_binary_bodies(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    build = spec["paths"]["/v1/images/build"]["post"]
    content = build["requestBody"]["content"]
    assert content["application/octet-stream"]["schema"]["format"] == "binary"
    # Documented as octet-stream only (generators choke on x-tar); x-tar is accepted.
    assert "application/x-tar" not in content
    assert "application/json" in content
    assert build["operationId"] == "images_build"
    load = spec["paths"]["/v1/images/load"]["post"]["requestBody"]["content"]
    assert load["application/octet-stream"]["schema"]["format"] == "binary"
    ids = {op["operationId"] for p in spec["paths"].values() for op in p.values()}
    assert {
        "images_list",
        "images_get",
        "images_history",
        "images_pull",
        "images_push",
        "images_tag",
        "images_delete",
        "images_prune",
        "images_build",
        "images_export",
        "images_load",
    } <= ids


def test_pull_target_and_build_params() -> None:
    from app.models.images import BuildOptions, PullRequest
    from app.services.images import build_params, pull_target

    assert pull_target(PullRequest(image="busybox")) == (
        {"fromImage": "busybox", "tag": "latest", "platform": None},
        "busybox:latest",
    )
    assert pull_target(PullRequest(image="h:5000/t/a:1", platform="linux/arm64"))[0] == {
        "fromImage": "h:5000/t/a",
        "tag": "1",
        "platform": "linux/arm64",
    }
    assert pull_target(PullRequest(image="a", tag="2"))[1] == "a:2"
    digest = "sha256:" + "c" * 64
    assert pull_target(PullRequest(image=f"a@{digest}"))[1] == f"a@{digest}"
    params = build_params(
        BuildOptions(tag=["a:1", "b:2"], buildargs={"X": "1"}, nocache=True, network="none"),
        "sub/Dockerfile",
    )
    assert params["t"] == "a:1"
    assert params["buildargs"] == {"X": "1"}
    assert params["nocache"] is True
    assert params["networkmode"] == "none"
    assert params["dockerfile"] == "sub/Dockerfile"
    assert params["labels"] is None


async def test_suffix_words_inside_references(
    client: httpx.AsyncClient, built: dict[str, str]
) -> None:
    """A repository named like a suffix route is reached with its tag."""
    suffix = uuid.uuid4().hex[:6]
    odd = [f"mt-{suffix}/history:1", f"mt-{suffix}/export:1", f"mt-{suffix}/tag:1"]
    for ref in odd:
        docker("tag", built["id"], ref)
    try:
        for ref in odd:
            r = await client.get(f"/v1/images/{ref}")
            assert r.status_code == 200, r.text
            assert ref in r.json()["tags"]
            r = await client.get(f"/v1/images/{ref}/history")
            assert r.status_code == 200
            assert r.json()[0]["id"] == built["id"]
        r = await client.post(
            f"/v1/images/{odd[0]}/tag", json={"repository": f"mt-{suffix}/history", "tag": "2"}
        )
        assert r.status_code == 201
        r = await client.delete(f"/v1/images/mt-{suffix}/history:2")
        assert r.status_code == 204
    finally:
        for ref in odd:
            docker("rmi", ref, check=False)


async def test_pull_refuses_malformed_references_before_the_engine(
    client: httpx.AsyncClient,
) -> None:
    for ref in ("Bad::Ref", "UPPER/x", "a:b:c", "x/Y:1", "host:99999999/x", "a/" + "b" * 260):
        r = await client.post("/v1/images/pull", json={"image": ref})
        assert r.status_code == 422, (ref, r.text)
        assert r.json()["code"] == "validation-error"
