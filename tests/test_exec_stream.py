"""POST /v1/containers/{id}/exec with `Accept: text/event-stream`, against a real
uvicorn and engine (httpx's ASGITransport buffers whole bodies)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import httpx
import orjson
import pytest

from app.services.execs import ExecItem, exec_events
from tests.conftest import RUN_ID, TEST_LABEL, LiveServer, docker, run_sleeper
from tests.sse import Event, events, unix_sockets

SSE = {"Accept": "text/event-stream"}


@pytest.fixture(scope="module")
def box(image: str) -> Iterator[str]:
    name = f"mt-exec-sse-{RUN_ID}"
    run_sleeper(image, name)
    yield name
    docker("rm", "-f", name, check=False)


async def exec_stream(server: LiveServer, box: str, body: dict[str, Any]) -> list[Event]:
    async with (
        httpx.AsyncClient(timeout=60) as c,
        c.stream("POST", f"{server.url}/v1/containers/{box}/exec", json=body, headers=SSE) as r,
    ):
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        return [ev async for ev in events(r)]


def output(got: list[Event], stream: str) -> str:
    return "".join(e.json["data"] for e in got if e.event == stream)


async def test_stdout_stderr_apart_then_exit_code(live_server: LiveServer, box: str) -> None:
    got = await exec_stream(
        live_server,
        box,
        {"cmd": ["sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3"]},
    )
    assert output(got, "stdout") == "out1\nout2\n"
    assert output(got, "stderr") == "err1\n"
    assert {e.event for e in got} == {"stdout", "stderr", "exit"}
    assert got[-1].event == "exit"
    assert got[-1].json == {"exit_code": 3}


async def test_tty_exec_is_all_stdout(live_server: LiveServer, box: str) -> None:
    got = await exec_stream(
        live_server,
        box,
        {"cmd": ["sh", "-c", "[ -t 1 ] && echo is-a-tty; echo e >&2"], "tty": True},
    )
    assert {e.event for e in got} == {"stdout", "exit"}
    text = output(got, "stdout")
    assert "is-a-tty" in text
    assert "e" in text.replace("is-a-tty", "")
    assert got[-1].json == {"exit_code": 0}


async def test_stopped_container_is_a_409_problem_not_a_stream(
    live_server: LiveServer, image: str, name: str
) -> None:
    docker("create", "--label", f"{TEST_LABEL}={RUN_ID}", "--name", name, image, "true")
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(
            f"{live_server.url}/v1/containers/{name}/exec", json={"cmd": ["true"]}, headers=SSE
        )
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "container-not-running"


async def test_client_gone_closes_the_engine_connection(live_server: LiveServer, box: str) -> None:
    assert live_server.proc is not None
    pid = live_server.proc.pid
    before = unix_sockets(pid)
    body = {"cmd": ["sh", "-c", "echo started; sleep 60"]}
    url = f"{live_server.url}/v1/containers/{box}/exec"
    async with (
        httpx.AsyncClient(timeout=60) as c,
        c.stream("POST", url, json=body, headers=SSE) as r,
    ):
        async for ev in events(r):
            assert (ev.event, ev.json) == ("stdout", {"data": "started\n"})
            break
        during = unix_sockets(pid)  # the attached exec connection is open
    deadline = time.monotonic() + 10
    while unix_sockets(pid) >= during and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    assert unix_sockets(pid) < during
    assert unix_sockets(pid) <= before + 1  # at most an idle pooled connection


async def test_exec_stream_is_audited(live_server: LiveServer, box: str) -> None:
    got = await exec_stream(live_server, box, {"cmd": ["sh", "-c", "echo audited-sse"]})
    assert got[-1].json == {"exit_code": 0}
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.get(f"{live_server.url}/v1/audit", params={"action": "containers_exec"})
    assert r.status_code == 200, r.text
    row = r.json()[0]
    assert (row["target"], row["status"]) == (box, 200)
    assert "audited-sse" in str(row["summary"])


# -- the SSE translation on its own (no engine) ------------------------------------------


async def test_utf8_split_across_chunks_and_invalid_bytes() -> None:
    async def items() -> AsyncGenerator[ExecItem, None]:
        yield "stdout", b"caf\xc3"  # é split across two chunks
        yield "stderr", b"\xe2\x82"  # € split, with stdout in between
        yield "stdout", b"\xa9 ok\xff!"
        yield "stderr", b"\xac"
        yield "stdout", b"\xf0\x9f"  # a truncated 4-byte character at the end
        yield 7

    got = [chunk async for chunk in exec_events(items())]
    parsed = [
        (head.split(b"\n")[0].removeprefix(b"event: ").decode(), orjson.loads(data))
        for head, _, data in (c.rstrip(b"\n").partition(b"\ndata: ") for c in got)
    ]
    assert parsed == [
        ("stdout", {"data": "caf"}),
        ("stdout", {"data": "é ok\ufffd!"}),
        ("stderr", {"data": "€"}),
        ("stdout", {"data": "\ufffd"}),
        ("exit", {"exit_code": 7}),
    ]
