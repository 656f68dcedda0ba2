"""Builds: the tar form (streamed), the JSON form, every option, failures.

RUN steps use `network=none`: they need no network, and the engine here may have
no default bridge.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from tests.conftest import RUN_ID, TEST_LABEL, LiveServer, docker, inspect, rmi

TAR = {"Content-Type": "application/x-tar"}
# First instruction of every stage with steps: each intermediate layer of this run
# carries our label, so the module's prune (on that label) leaves nothing behind.
OURS = f"LABEL {TEST_LABEL}={RUN_ID}\n"
LABELS = json.dumps({TEST_LABEL: RUN_ID})


def make_tar(files: Mapping[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in files.items():
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(path)
            info.size = len(raw)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


@pytest.fixture(scope="module", autouse=True)
def _prune_our_dangling_images() -> Iterator[None]:
    yield
    docker("image", "prune", "-f", "--filter", f"label={TEST_LABEL}={RUN_ID}", check=False)


@pytest.fixture
def tag() -> Iterator[str]:
    """A unique tag; the image (and any dangling predecessor) is removed afterwards."""
    value = f"mt-build-{uuid.uuid4().hex[:8]}/img:1"
    yield value
    rmi(value)


async def build_tar(
    client: httpx.AsyncClient, files: Mapping[str, str | bytes], **params: str
) -> httpx.Response:
    return await client.post(
        "/v1/images/build",
        content=make_tar(files),
        headers=TAR,
        params={"labels": LABELS, "network": "none", **params},
    )


async def test_tar_build_with_tag_dockerfile_and_labels(
    client: httpx.AsyncClient, image: str, tag: str
) -> None:
    files = {
        "build/Custom.dockerfile": f"FROM {image}\n{OURS}COPY app.sh /app.sh\nRUN /app.sh > /out\n",
        "app.sh": "#!/bin/sh\necho built-by-moorage\n",
    }
    r = await build_tar(
        client,
        files,
        tag=tag,
        dockerfile="build/Custom.dockerfile",
        labels=json.dumps({TEST_LABEL: RUN_ID, "team": "a"}),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tags"] == [tag]
    assert ": RUN /app.sh > /out" in body["logs"]
    doc = inspect("image", tag)
    assert doc["Id"] == body["image"]
    assert doc["Config"]["Labels"] == {TEST_LABEL: RUN_ID, "team": "a"}
    out = docker("run", "--rm", "--network", "none", tag, "cat", "/out")
    assert out.strip() == "built-by-moorage"


async def test_multi_stage_target_and_buildargs(
    client: httpx.AsyncClient, image: str, tag: str
) -> None:
    dockerfile = (
        f"FROM {image} AS base\n{OURS}"
        "ARG GREETING=hello\n"
        'RUN echo "$GREETING from base" > /greeting\n'
        f"FROM {image} AS final\n{OURS}"
        "COPY --from=base /greeting /greeting\n"
        "RUN echo final > /stage\n"
    )
    r = await build_tar(
        client,
        {"Dockerfile": dockerfile},
        tag=tag,
        target="base",
        buildargs=json.dumps({"GREETING": "ahoy"}),
    )
    assert r.status_code == 200, r.text
    logs = r.json()["logs"]
    assert "echo final" not in logs  # stopped at the target
    assert docker("run", "--rm", "--network", "none", tag, "cat", "/greeting").strip() == (
        "ahoy from base"
    )
    r = await build_tar(client, {"Dockerfile": dockerfile}, tag=tag)
    assert r.status_code == 200, r.text
    assert docker("run", "--rm", "--network", "none", tag, "cat", "/stage").strip() == "final"
    assert docker("run", "--rm", "--network", "none", tag, "cat", "/greeting").strip() == (
        "hello from base"
    )


async def test_nocache(client: httpx.AsyncClient, image: str, tag: str) -> None:
    files = {"Dockerfile": f"FROM {image}\n{OURS}RUN echo {uuid.uuid4().hex} > /n\n"}
    assert (await build_tar(client, files, tag=tag)).status_code == 200
    again = await build_tar(client, files, tag=tag)
    assert "Using cache" in again.json()["logs"]
    fresh = await build_tar(client, files, tag=tag, nocache="true")
    assert fresh.status_code == 200
    assert "Using cache" not in fresh.json()["logs"]
    assert fresh.json()["image"] != again.json()["image"]


async def test_pull_option_reaches_the_engine(
    client: httpx.AsyncClient, image: str, tag: str
) -> None:
    # FROM scratch is never pulled: pull=true builds.
    r = await build_tar(client, {"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": "x"}, pull="true")
    assert r.status_code == 200, r.text
    rmi(r.json()["image"], force=False)
    # A local-only base with pull=true makes the engine go to a registry, which cannot
    # be reached from here: the registry's failure (502), with the build's log.
    r = await build_tar(client, {"Dockerfile": f"FROM {image}\n"}, pull="true", tag=tag)
    assert r.status_code == 502, r.text
    problem = r.json()
    assert problem["code"] == "registry-unreachable"
    assert ": FROM " in problem["log"]


async def test_failing_step_gives_build_failed_with_log(
    client: httpx.AsyncClient, image: str
) -> None:
    dockerfile = f"FROM {image}\n{OURS}RUN echo before-the-failure\nRUN echo oops >&2 && exit 3\n"
    r = await build_tar(client, {"Dockerfile": dockerfile}, forcerm="true")
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "build-failed"
    assert "returned a non-zero code: 3" in problem["detail"]
    assert "before-the-failure" in problem["log"]
    assert "oops" in problem["log"]
    assert "exit 3" in problem["log"]


async def test_bad_dockerfiles(client: httpx.AsyncClient, image: str) -> None:
    r = await build_tar(client, {"Dockerfile": "FRUM nothing\n"})
    assert r.status_code == 422
    assert r.json()["code"] == "build-failed"
    r = await build_tar(client, {"other": "x"})  # no Dockerfile in the context
    assert r.status_code == 422
    assert r.json()["code"] == "build-failed"
    r = await build_tar(client, {"Dockerfile": f"FROM {image}\n"}, target="nope")
    assert r.status_code == 422
    r = await build_tar(client, {"Dockerfile": f"FROM {image}\n"}, tag="bad tag")
    assert r.status_code == 422
    assert r.json()["code"] == "validation-error"
    r = await build_tar(client, {"Dockerfile": f"FROM {image}\n"}, buildargs="[1, 2]")
    assert r.status_code == 422
    assert r.json()["code"] == "validation-error"


async def test_not_a_tar_and_wrong_media_type(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/images/build", content=b"FROM scratch\n" * 100, headers=TAR)
    assert r.status_code == 400
    assert r.json()["code"] == "bad-request"
    r = await client.post("/v1/images/build", content=b"", headers=TAR)
    assert r.status_code == 400
    r = await client.post("/v1/images/build", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


async def test_context_of_thousands_of_files_streamed(
    client: httpx.AsyncClient, image: str, tag: str
) -> None:
    count = 3000
    files: dict[str, str | bytes] = {
        f"data/d{i // 100}/f{i}.txt": f"file {i}\n" for i in range(count)
    }
    files["Dockerfile"] = f"FROM {image}\n{OURS}COPY data /data\nRUN find /data -type f | wc -l\n"
    data = make_tar(files)

    async def chunks() -> AsyncIterator[bytes]:  # uploaded in small pieces
        for i in range(0, len(data), 8192):
            yield data[i : i + 8192]

    r = await client.post(
        "/v1/images/build",
        content=chunks(),
        headers=TAR,
        params={"tag": tag, "labels": LABELS, "network": "none"},
    )
    assert r.status_code == 200, r.text
    lines = [line.strip() for line in r.json()["logs"].splitlines()]
    assert str(count) in lines


async def test_gzip_context(client: httpx.AsyncClient, image: str, tag: str) -> None:
    import gzip

    data = gzip.compress(make_tar({"Dockerfile": f"FROM {image}\nLABEL gz=1\n"}))
    r = await client.post(
        "/v1/images/build",
        content=data,
        headers={"Content-Type": "application/gzip"},
        params={"tag": tag, "labels": LABELS},
    )
    assert r.status_code == 200, r.text
    assert inspect("image", tag)["Config"]["Labels"]["gz"] == "1"


async def test_json_form(client: httpx.AsyncClient, image: str, tag: str) -> None:
    second = tag.replace(":1", ":2")
    r = await client.post(
        "/v1/images/build",
        json={
            "dockerfile": (
                f"FROM {image} AS a\n{OURS}ARG WHO\nCOPY bin/hello.sh /hello.sh\n"
                'RUN sh /hello.sh "$WHO" > /said\nFROM a AS b\nRUN false\n'
            ),
            "files": {"bin/hello.sh": 'echo "hello $1"\n'},
            "tag": [tag, second],
            "target": "a",
            "buildargs": {"WHO": "json"},
            "labels": {TEST_LABEL: RUN_ID},
            "network": "none",
        },
    )
    try:
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["tags"] == [tag, second]
        assert inspect("image", second)["Id"] == body["image"]
        said = docker("run", "--rm", "--network", "none", tag, "cat", "/said")
        assert said.strip() == "hello json"
    finally:
        rmi(second, force=False)


async def test_json_form_is_checked(client: httpx.AsyncClient, image: str) -> None:
    r = await client.post("/v1/images/build", json={"dockerfile": "FROM x", "tga": "a"})
    assert r.status_code == 422
    assert "tga" in r.json()["detail"]
    r = await client.post(
        "/v1/images/build", json={"dockerfile": f"FROM {image}", "files": {"../x": "y"}}
    )
    assert r.status_code == 422
    r = await client.post(
        "/v1/images/build", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code in (400, 422)


def _vm_hwm(pid: int) -> int:
    """Peak resident memory of a process (bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_large_context_is_streamed_not_buffered(live_server: LiveServer, image: str) -> None:
    """A 96 MiB context goes through the service without its peak memory growing by it."""
    size, chunk = 96 << 20, 1 << 20
    dockerfile = f"FROM scratch\nLABEL {TEST_LABEL}={RUN_ID}\n".encode()

    def body() -> Iterator[bytes]:
        df = tarfile.TarInfo("Dockerfile")
        df.size = len(dockerfile)
        yield df.tobuf() + dockerfile + bytes(-len(dockerfile) % 512)
        big = tarfile.TarInfo("big.bin")
        big.size = size
        yield big.tobuf()
        zeros = bytes(chunk)
        for _ in range(size // chunk):
            yield zeros
        yield bytes(1024)  # end of archive

    assert live_server.proc is not None
    pid = live_server.proc.pid
    before = _vm_hwm(pid)
    with httpx.Client(base_url=live_server.url, timeout=300) as c:
        r = c.post("/v1/images/build", content=body(), headers=TAR)
    assert r.status_code == 200, r.text
    rmi(r.json()["image"], force=False)
    growth = _vm_hwm(pid) - before
    print(f"peak memory growth for a {size >> 20} MiB context: {growth / (1 << 20):.1f} MiB")
    assert growth < 32 << 20


async def test_body_over_the_limit_is_413_not_an_engine_error(image: str) -> None:
    """The limit trips mid-upload (no Content-Length): 413, though aiohttp saw a broken pipe."""
    from asgi_lifespan import LifespanManager

    from app.main import create_app
    from app.settings import Settings

    data = make_tar({"Dockerfile": f"FROM {image}\n", "big": bytes(300_000)})

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 8192):
            yield data[i : i + 8192]

    app = create_app(Settings(max_body_bytes=64 * 1024))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            for path in ("/v1/images/build", "/v1/images/load"):
                r = await c.post(path, content=chunks(), headers=TAR)
                assert r.status_code == 413, r.text
                assert r.json()["code"] == "payload-too-large"
