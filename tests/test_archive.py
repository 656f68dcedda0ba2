from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app import errors
from app.services.archive import check_tar_head
from tests.conftest import RUN_ID, LiveServer, docker, run_sleeper

TAR = {"Content-Type": "application/x-tar"}


def make_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o640
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read_tar(data: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            f = tar.extractfile(member)
            if f is not None:
                out[member.name] = f.read()
    return out


@pytest.fixture(scope="module")
def box(image: str) -> Iterator[str]:
    name = f"mt-archive-{RUN_ID}"
    run_sleeper(image, name)
    yield name
    docker("rm", "-f", name, check=False)


def test_tar_head_check() -> None:
    check_tar_head(make_tar({"a": b"x"})[:512])
    check_tar_head(b"\0" * 1024)  # an empty archive
    check_tar_head(b"\x1f\x8b\x08rest-of-gzip")
    for bad in (b"", b"short", b"x" * 512):
        with pytest.raises(errors.BadRequest):
            check_tar_head(bad)


async def test_round_trip(client: httpx.AsyncClient, box: str) -> None:
    files = {"dir/hello.txt": b"hello\n", "dir/bin.dat": bytes(range(256)) * 4}
    r = await client.put(
        f"/v1/containers/{box}/archive",
        params={"path": "/tmp"},
        content=make_tar(files),
        headers=TAR,
    )
    assert r.status_code == 204, r.text
    assert docker("exec", box, "cat", "/tmp/dir/hello.txt") == "hello\n"

    r = await client.get(f"/v1/containers/{box}/archive", params={"path": "/tmp/dir"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-tar"
    assert r.headers["content-disposition"] == 'attachment; filename="dir.tar"'
    stat = json.loads(r.headers["x-moorage-path-stat"])
    assert stat["name"] == "dir"
    assert stat["is_dir"] is True
    assert read_tar(r.content) == files
    r = await client.get(
        f"/v1/containers/{box}/archive",
        params={"path": "/tmp/dir"},
        headers={"accept": "application/octet-stream"},
    )
    assert r.headers["content-type"] == "application/octet-stream"
    assert read_tar(r.content) == files

    s = await client.get(
        f"/v1/containers/{box}/archive/stat", params={"path": "/tmp/dir/hello.txt"}
    )
    assert s.status_code == 200
    assert s.json()["size"] == 6
    assert s.json()["permissions"] == "0640"
    assert s.json()["is_dir"] is False


async def test_twenty_megabytes_streamed(live_server: LiveServer, box: str) -> None:
    """Through a real server, uploaded and downloaded in chunks on both sides."""
    big = os.urandom(20 * 1024 * 1024)
    data = make_tar({"big.bin": big})

    async def upload() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 256 * 1024):
            yield data[i : i + 256 * 1024]

    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as c:
        r = await c.put(
            f"/v1/containers/{box}/archive", params={"path": "/tmp"}, content=upload(), headers=TAR
        )
        assert r.status_code == 204, r.text
        got = bytearray()
        async with c.stream(
            "GET", f"/v1/containers/{box}/archive", params={"path": "/tmp/big.bin"}
        ) as resp:
            assert resp.status_code == 200
            async for chunk in resp.aiter_bytes():
                got.extend(chunk)
    out = read_tar(bytes(got))
    assert hashlib.sha256(out["big.bin"]).digest() == hashlib.sha256(big).digest()
    docker("exec", box, "rm", "/tmp/big.bin")


async def test_archive_errors(client: httpx.AsyncClient, box: str, name: str, image: str) -> None:
    url = f"/v1/containers/{box}/archive"
    for body in (b"this is not a tar archive" * 40, b"", b"short"):
        r = await client.put(url, params={"path": "/tmp"}, content=body, headers=TAR)
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "bad-request"
    # A tar header then garbage: the engine's own failure, still a 400.
    broken = make_tar({"x": b"y" * 2000})[:1024]
    r = await client.put(url, params={"path": "/tmp"}, content=broken, headers=TAR)
    assert r.status_code == 400, r.text

    for r in (
        await client.get(url, params={"path": "/no/such/path"}),
        await client.get(url + "/stat", params={"path": "/no/such/path"}),
        await client.put(
            url, params={"path": "/no/such/dir"}, content=make_tar({"a": b""}), headers=TAR
        ),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["code"] == "not-found"

    for r in (
        await client.get("/v1/containers/mt-no-such-container/archive", params={"path": "/"}),
        await client.get("/v1/containers/mt-no-such-container/archive/stat", params={"path": "/"}),
        await client.put(
            "/v1/containers/mt-no-such-container/archive",
            params={"path": "/"},
            content=make_tar({"a": b""}),
            headers={"Content-Type": "application/octet-stream"},
        ),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["code"] == "container-not-found"

    run_sleeper(image, name, "--read-only")
    r = await client.put(
        f"/v1/containers/{name}/archive",
        params={"path": "/"},
        content=make_tar({"a": b""}),
        headers=TAR,
    )
    assert r.status_code == 409, r.text
    docker("rm", "-f", name)
