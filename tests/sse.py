"""A small SSE client for the stream tests (against a real uvicorn)."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import docker, test_labels


@dataclass
class Event:
    event: str = "message"
    id: str | None = None
    data: str = ""
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.data)


async def events(resp: httpx.Response, with_comments: bool = False) -> AsyncIterator[Event]:
    """Parse an event stream. Retry-only frames and comments are yielded when asked."""
    cur = Event()
    has = False
    async for line in resp.aiter_lines():
        if line == "":
            if has or (with_comments and (cur.comments or cur.retry is not None)):
                yield cur
            cur, has = Event(), False
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            cur.comments.append(value)
        elif name == "event":
            cur.event, has = value, True
        elif name == "id":
            cur.id = value
        elif name == "data":
            cur.data, has = (cur.data + "\n" + value if cur.data else value), True
        elif name == "retry":
            cur.retry = int(value)


def run_container(name: str, script: str, *extra: str) -> str:
    args = ["run", "-d", "--network", "none", "--name", name]
    for k, v in test_labels().items():
        args += ["--label", f"{k}={v}"]
    return docker(
        *args,
        *extra,
        os.environ.get("MOORAGE_TEST_IMAGE", "moorage-test/busybox:latest"),
        "sh",
        "-c",
        script,
    ).strip()


def unix_sockets(pid: int) -> int:
    """How many unix sockets the process holds (moorage's only unix sockets are its
    engine connections to docker.sock)."""
    inodes = set()
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            inodes.add(parts[6])
    n = 0
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            n += 1
    return n


def _idle_pooled(url: str) -> int:
    """Idle connections in moorage's engine pool (from /metrics)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    gauge = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^moorage_engine_connections_(open|in_use) (\S+)$", text, re.M)
    }
    return int(gauge["open"] - gauge["in_use"])


def held_sockets(pid: int, url: str, samples: int = 5) -> int:
    """The engine connections the process holds in use: its unix sockets less the idle
    ones in its pool, the least of a few samples. On a shared engine other suites'
    container events make the state cache re-read containers, several at once, and
    the connections those bursts open stay pooled (idle) for a while, or are briefly
    busy: neither is a connection a stream holds, which every sample shows."""
    least = None
    for i in range(samples):
        if i:
            time.sleep(0.1)
        n = unix_sockets(pid) - _idle_pooled(url)
        least = n if least is None else min(least, n)
    assert least is not None
    return least
