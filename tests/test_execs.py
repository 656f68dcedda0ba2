from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.engine import Engine
from app.models.execs import ExecDemuxOutput, ExecOutput, ExecSpec
from app.services.execs import ExecItem, collect, exec_attached, exec_create
from app.settings import Settings
from tests.conftest import RUN_ID, TEST_LABEL, docker, run_sleeper


@pytest.fixture(scope="module")
def box(image: str) -> Iterator[str]:
    """One running container shared by the exec tests."""
    name = f"mt-exec-{RUN_ID}"
    run_sleeper(image, name)
    yield name
    docker("rm", "-f", name, check=False)


def test_spec_to_engine() -> None:
    spec = ExecSpec.model_validate(
        {"cmd": "sh -c 'echo a b'", "environment": ["A=1", "B=x=y"], "workdir": "/tmp"}
    )
    assert spec.to_engine() == {
        "Cmd": ["sh", "-c", "echo a b"],
        "AttachStdout": True,
        "AttachStderr": True,
        "Tty": False,
        "Privileged": False,
        "Env": ["A=1", "B=x=y"],
        "WorkingDir": "/tmp",
    }
    assert ExecSpec(cmd=["true"], detach=True).to_engine()["AttachStdout"] is False


async def test_collect_keeps_order_and_caps_output() -> None:
    async def items() -> AsyncIterator[ExecItem]:
        yield "stdout", b"ab"
        yield "stderr", b"cd"
        yield "stdout", b"\xffef"
        yield 5

    both = await collect(items(), demux=False)
    assert isinstance(both, ExecOutput)
    assert (both.exit_code, both.output, both.truncated) == (5, "abcd\ufffdef", False)
    apart = await collect(items(), demux=True, limit=3)
    assert isinstance(apart, ExecDemuxOutput)
    assert (apart.stdout, apart.stderr, apart.truncated) == ("ab\ufffd", "cd", True)


async def test_exec_output_env_workdir_user(client: httpx.AsyncClient, box: str) -> None:
    r = await client.post(
        f"/v1/containers/{box}/exec",
        json={
            "cmd": ["sh", "-c", "echo $GREETING; pwd; id -un"],
            "environment": {"GREETING": "hello"},
            "workdir": "/tmp",
            "user": "nobody",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"exit_code": 0, "output": "hello\n/tmp\nnobody\n", "truncated": False}


async def test_exec_demux_and_exit_code(client: httpx.AsyncClient, box: str) -> None:
    r = await client.post(
        f"/v1/containers/{box}/exec",
        json={"cmd": "sh -c 'echo out; echo err >&2; exit 3'", "demux": True},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"exit_code": 3, "stdout": "out\n", "stderr": "err\n", "truncated": False}


async def test_exec_tty(client: httpx.AsyncClient, box: str) -> None:
    r = await client.post(
        f"/v1/containers/{box}/exec",
        json={
            "cmd": ["sh", "-c", "test -t 1 && echo tty; echo err >&2"],
            "tty": True,
            "demux": True,
        },
    )
    body = r.json()
    assert body["exit_code"] == 0
    assert body["stdout"].replace("\r\n", "\n") == "tty\nerr\n"
    assert body["stderr"] == ""


async def test_exec_detach_then_state(client: httpx.AsyncClient, box: str) -> None:
    r = await client.post(
        f"/v1/containers/{box}/exec",
        json={"cmd": ["sh", "-c", "sleep 0.3; exit 7"], "detach": True},
    )
    assert r.status_code == 202, r.text
    exec_id = r.json()["exec_id"]
    state = (await client.get(f"/v1/execs/{exec_id}")).json()
    assert state["id"] == exec_id
    assert state["container_id"] == docker("inspect", "-f", "{{.Id}}", box).strip()
    assert state["process_config"]["entrypoint"] == "sh"
    for _ in range(200):
        if not state["running"]:
            break
        await asyncio.sleep(0.05)
        state = (await client.get(f"/v1/execs/{exec_id}")).json()
    assert state["running"] is False
    assert state["exit_code"] == 7


async def test_exec_errors(client: httpx.AsyncClient, box: str, name: str, image: str) -> None:
    missing = await client.get("/v1/execs/" + "0" * 64)
    assert missing.status_code == 404
    assert missing.json()["code"] == "exec-not-found"
    assert (await client.get("/v1/execs/not-hex")).status_code == 422

    r = await client.post(f"/v1/containers/{box}/exec", json={"cmd": "true", "bogus": 1})
    assert r.status_code == 422
    assert (await client.post(f"/v1/containers/{box}/exec", json={"cmd": []})).status_code == 422

    r = await client.post("/v1/containers/mt-no-such-container/exec", json={"cmd": "true"})
    assert r.status_code == 404
    assert r.json()["code"] == "container-not-found"

    docker(
        "create", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}",
        "--name", name, image, "sleep", "60",
    )  # fmt: skip
    r = await client.post(f"/v1/containers/{name}/exec", json={"cmd": "true"})
    assert r.status_code == 409
    assert r.json()["code"] == "container-not-running"


async def test_exec_in_paused_container(client: httpx.AsyncClient, name: str, image: str) -> None:
    run_sleeper(image, name)
    docker("pause", name)
    try:
        r = await client.post(f"/v1/containers/{name}/exec", json={"cmd": "true"})
        assert r.status_code == 409
        assert r.json()["code"] == "conflict"
    finally:
        docker("rm", "-f", name)


async def test_attached_generator_yields_chunks_then_exit_code(
    settings: Settings, box: str
) -> None:
    """The generator a streamed form relays: output chunks, the exit code last."""
    engine = Engine(settings)
    try:
        spec = ExecSpec(cmd=["sh", "-c", "echo a; echo b >&2; echo c; exit 4"])
        exec_id = await exec_create(engine, box, spec)
        items = [item async for item in exec_attached(engine, exec_id, tty=False)]
    finally:
        await engine.close()
    assert items[-1] == 4
    # Order within a stream is kept; between the two pipes the engine promises none.
    by_stream: dict[str, bytes] = {"stdout": b"", "stderr": b""}
    for item in items[:-1]:
        assert isinstance(item, tuple)
        by_stream[item[0]] += item[1]
    assert by_stream == {"stdout": b"a\nc\n", "stderr": b"b\n"}
