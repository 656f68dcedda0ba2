"""Interactive terminals over WebSocket: a real uvicorn, a real engine, a real client.

The client is the `websockets` package. Every process count is the engine's own
(`docker top`), so "nothing left behind" is what the host sees.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from app.security import hash_token
from tests.conftest import ROOT, RUN_ID, TEST_LABEL, LiveServer, docker, run_sleeper


class Served(LiveServer):
    """moorage as `moorage serve` runs it: the same WebSocket implementation, pings,
    message limit and compression setting as production (app/cli.py)."""

    def _spawn(self, logf: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env={**self._env, "MOORAGE_LOG_LEVEL": "warning"},
            stdout=logf,
            stderr=subprocess.STDOUT,
        )


TOKENS = {role: f"mrg_term_{role}_token" for role in ("viewer", "operator", "admin")}


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Tokens for each role, a short reattach grace, an audit file of its own."""
    d = tmp_path_factory.mktemp("terminals")
    tokens = d / "tokens.toml"
    tokens.write_text(
        "".join(
            f'[[tokens]]\nname = "{role}-bot"\nrole = "{role}"\nsha256 = "{hash_token(tok)}"\n'
            for role, tok in TOKENS.items()
        )
    )
    live = Served(
        env={
            "MOORAGE_TOKENS_FILE": str(tokens),
            "MOORAGE_AUDIT_DB": str(d / "audit.sqlite3"),
            "MOORAGE_TERMINAL_REATTACH_GRACE": "4",
            "MOORAGE_TERMINAL_IDLE_TIMEOUT": "0",
            "MOORAGE_TERMINAL_MAX_PER_CONTAINER": "6",
            "MOORAGE_CORS_ORIGINS": '["https://ui.example"]',
            "MOORAGE_TERMINAL_PING_INTERVAL": "1",
        }
    ).start(wait_ready=True)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """No tokens (loopback admin), a policy refusing root execs, a short idle timeout."""
    d = tmp_path_factory.mktemp("terminals-strict")
    policy = d / "policy.toml"
    policy.write_text("[policy]\nexec_allow_root = false\n")
    live = Served(
        env={
            "MOORAGE_POLICY_FILE": str(policy),
            "MOORAGE_AUDIT_DB": str(d / "audit.sqlite3"),
            "MOORAGE_TERMINAL_IDLE_TIMEOUT": "2",
        }
    ).start(wait_ready=True)
    yield live
    live.stop()


@pytest.fixture
def box(name: str, image: str) -> Iterator[str]:
    run_sleeper(image, name)
    yield name
    docker("rm", "-f", name, check=False)


def processes(container: str) -> list[str]:
    """The container's processes as the engine lists them (starting none)."""
    out = docker("top", container, "-o", "pid,args")
    return [line for line in out.splitlines()[1:] if line.strip()]


def ws_url(server: LiveServer, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


async def open_exec(
    server: LiveServer,
    container: str,
    role: str | None = "admin",
    host: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """An interactive exec made (201), its terminal not yet opened: the exec's doc."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        r = await c.post(
            f"/v1/containers/{container}/exec",
            params={"host": host} if host else None,
            json={"interactive": True, **spec},
            headers=bearer(role) if role else {},
        )
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def connect(server: LiveServer, path: str, role: str | None = "admin", **kw: Any) -> Any:
    headers = {**bearer(role)} if role else {}
    headers.update(kw.pop("headers", {}))
    return websockets.connect(ws_url(server, path), additional_headers=headers, **kw)


async def ready(ws: ClientConnection) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert doc["type"] == "ready"
    return doc


async def read_until(ws: ClientConnection, needle: bytes, limit: float = 15) -> bytes:
    """Binary output until `needle` shows (text frames skipped)."""
    seen = b""
    async with asyncio.timeout(limit):
        while needle not in seen:
            msg = await ws.recv()
            if isinstance(msg, bytes):
                seen += msg
    return seen


async def until_exit(ws: ClientConnection, limit: float = 15) -> tuple[bytes, dict[str, Any]]:
    """Everything up to the exit frame, which must be followed by a close 1000."""
    out = b""
    async with asyncio.timeout(limit):
        while True:
            msg = await ws.recv()
            if isinstance(msg, bytes):
                out += msg
                continue
            doc = json.loads(msg)
            if doc["type"] == "exit":
                break
        with pytest.raises(websockets.ConnectionClosedOK):
            await ws.recv()
    return out, doc


async def wait_for(cond: Any, limit: float = 15) -> None:
    async with asyncio.timeout(limit):
        while not await asyncio.to_thread(cond):  # noqa: ASYNC110
            await asyncio.sleep(0.1)


# -- a shell ---------------------------------------------------------------------------


async def size_is(ws: ClientConnection, rows: int, cols: int) -> None:
    """The shell's `stty size` says `rows cols`."""
    await ws.send(b"stty size\n")
    await read_until(ws, f"{rows} {cols}".encode())


async def resize_both_ways(
    server: LiveServer,
    ws: ClientConnection,
    http_path: str,
    by_frame: tuple[int, int],
    by_http: tuple[int, int],
    role: str | None = "admin",
    host: str | None = None,
) -> None:
    """Resize by a socket frame, then over HTTP: the shell's `stty size` sees each."""
    await ws.send(json.dumps({"type": "resize", "rows": by_frame[0], "cols": by_frame[1]}))
    await size_is(ws, *by_frame)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        r = await c.post(
            http_path,
            params={"host": host} if host else None,
            json={"rows": by_http[0], "cols": by_http[1]},
            headers=bearer(role) if role else {},
        )
        assert r.status_code == 204, r.text
    await size_is(ws, *by_http)


async def test_tty_shell_echo_size_resize_and_exit_code(server: LiveServer, box: str) -> None:
    t = await open_exec(server, box, tty=True, rows=33, cols=101)
    assert t["ws"] == f"/v1/execs/{t['exec_id']}/ws"
    assert t["cmd"] == ["/bin/sh"]  # busybox has no bash: the best shell is sh
    async with connect(server, t["ws"]) as ws:
        assert await ready(ws) == {"type": "ready", "tty": True, "channels": False}
        await ws.send(b"echo hel''lo-$((6*7))\n")
        await read_until(ws, b"hello-42")
        # The size given at start: never 0x0 (busybox prints "stty: standard input").
        await size_is(ws, 33, 101)
        await resize_both_ways(server, ws, f"/v1/execs/{t['exec_id']}/resize", (40, 132), (12, 34))
        await ws.send(b"exit 7\n")
        _, exit_frame = await until_exit(ws)
    assert exit_frame == {"type": "exit", "exit_code": 7}


async def test_non_tty_keeps_stdout_and_stderr_apart(server: LiveServer, box: str) -> None:
    t = await open_exec(server, box, cmd=["sh", "-c", "echo to-out; echo to-err >&2; exit 2"])
    async with connect(server, t["ws"]) as ws:
        assert (await ready(ws))["channels"] is True
        frames: list[bytes] = []
        async with asyncio.timeout(15):
            while True:
                msg = await ws.recv()
                if isinstance(msg, str):
                    assert json.loads(msg) == {"type": "exit", "exit_code": 2}
                    break
                frames.append(msg)
    stdout = b"".join(f[1:] for f in frames if f[0] == 1)
    stderr = b"".join(f[1:] for f in frames if f[0] == 2)
    assert stdout == b"to-out\n"
    assert stderr == b"to-err\n"


async def test_stdin_eof_pipes_a_file_through_cat(server: LiveServer, box: str) -> None:
    payload = bytes(range(256)) * 300  # binary, 75 KiB, over several frames
    t = await open_exec(server, box, cmd=["sh", "-c", "cat > /piped.bin"])
    async with connect(server, t["ws"]) as ws:
        await ready(ws)
        for i in range(0, len(payload), 16384):
            await ws.send(payload[i : i + 16384])
        await ws.send(json.dumps({"type": "eof"}))
        _, exit_frame = await until_exit(ws)
    assert exit_frame["exit_code"] == 0
    got = await asyncio.to_thread(
        lambda: (
            subprocess.run(
                ["docker", "exec", box, "cat", "/piped.bin"], capture_output=True, check=True
            ).stdout
        )
    )
    assert got == payload


async def test_a_bad_control_frame_is_answered_not_fatal(server: LiveServer, box: str) -> None:
    t = await open_exec(server, box, tty=True)
    async with connect(server, t["ws"]) as ws:
        await ready(ws)
        await ws.send('{"type": "resize", "rows": 0}')
        while True:
            msg = await asyncio.wait_for(ws.recv(), 10)
            if isinstance(msg, str):
                assert json.loads(msg)["type"] == "error"
                break
        await ws.send(b"echo still-$((1+1))\n")
        await read_until(ws, b"still-2")
        await ws.send(json.dumps({"type": "close"}))
        with pytest.raises(websockets.ConnectionClosed):
            await read_until(ws, b"never")


# -- attach ----------------------------------------------------------------------------


async def test_attach_to_the_main_process_with_logs_and_resize(
    server: LiveServer, name: str, image: str
) -> None:
    docker(
        "run", "-dit", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}",
        "--name", name, image, "sh", "-c", "echo before-attach; exec sh",
    )  # fmt: skip
    try:
        path = f"/v1/containers/{name}/attach/ws?logs=true&rows=20&cols=70"
        async with connect(server, path) as ws:
            assert (await ready(ws))["tty"] is True
            await read_until(ws, b"before-attach")
            await ws.send(b"stty size; echo in-$((2+3))\n")
            out = await read_until(ws, b"in-5")
            assert b"20 70" in out
            await resize_both_ways(server, ws, f"/v1/containers/{name}/resize", (21, 71), (22, 72))
        # Closing an attach detaches: the main process runs on.
        await asyncio.sleep(0.5)
        assert docker("inspect", "-f", "{{.State.Running}}", name).strip() == "true"
    finally:
        docker("rm", "-f", name, check=False)


# -- reattach, grace, idle -------------------------------------------------------------


async def test_a_dropped_socket_reattaches_with_replay(server: LiveServer, box: str) -> None:
    t = await open_exec(server, box, tty=True)
    ws = await connect(server, t["ws"])
    await ready(ws)
    await ws.send(b"echo before-drop-$((3*3))\n")
    await read_until(ws, b"before-drop-9")
    # Dropped, not closed by the client (1000 would end it): like a network cut.
    ws.transport.abort()
    await asyncio.sleep(0.5)
    async with connect(server, t["ws"]) as again:
        await ready(again)
        replay = await read_until(again, b"before-drop-9")
        assert b"echo before-drop" in replay
        await again.send(b"echo after-$((4*4))\n")
        await read_until(again, b"after-16")
        await again.send(b"exit\n")
        _, frame = await until_exit(again)
    assert frame["exit_code"] == 0


async def test_after_the_grace_the_process_is_gone(server: LiveServer, box: str) -> None:
    baseline = len(processes(box))
    t = await open_exec(server, box, tty=True)
    ws = await connect(server, t["ws"])
    await ready(ws)
    await ws.send(b"sleep 1001 & sleep 1002 &\n")
    await wait_for(lambda: sum("sleep 100" in p for p in processes(box)) == 2)
    ws.transport.abort()
    await wait_for(lambda: len(processes(box)) == baseline, limit=20)  # grace is 4 s
    with pytest.raises(websockets.InvalidStatus) as info:
        await connect(server, t["ws"])
    assert info.value.response.status_code == 404


async def test_idle_timeout_ends_the_terminal(strict: LiveServer, name: str, image: str) -> None:
    run_sleeper(image, name, "--user", "1000")
    t = await open_exec(strict, name, role=None, tty=True)
    async with connect(strict, t["ws"], role=None) as ws:
        await ready(ws)
        await ws.send(b"sleep 999 &\n")
        await wait_for(lambda: any("sleep 999" in p for p in processes(name)))
        with pytest.raises(websockets.ConnectionClosed) as info:
            await read_until(ws, b"never", limit=20)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 4000
    await wait_for(lambda: not any("sleep 999" in p for p in processes(name)))


# -- security --------------------------------------------------------------------------


async def test_a_foreign_origin_is_refused_whatever_the_credentials(
    server: LiveServer, box: str
) -> None:
    t = await open_exec(server, box, tty=True)
    for origin in ("https://evil.example", "null"):
        with pytest.raises(websockets.InvalidStatus) as info:
            await connect(server, t["ws"], headers={"Origin": origin})
        assert info.value.response.status_code == 403
    # Not started: the exec never ran.
    assert docker("inspect", "-f", "{{.ExecIDs}}", box).count(t["exec_id"]) == 1
    assert not any("/bin/sh" in p for p in processes(box))
    # Its own origin and a configured one are fine.
    host = server.url.removeprefix("http://")
    async with connect(server, t["ws"], headers={"Origin": f"http://{host}"}) as ws:
        await ready(ws)
    t2 = await open_exec(server, box, tty=True)
    async with connect(server, t2["ws"], headers={"Origin": "https://ui.example"}) as ws:
        await ready(ws)


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_viewer_and_operator_are_refused(server: LiveServer, box: str, role: str) -> None:
    before = processes(box)
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.post(
            f"/v1/containers/{box}/exec", json={"interactive": True}, headers=bearer(role)
        )
        assert r.status_code == 403, r.text
    t = await open_exec(server, box, tty=True)
    for path in (t["ws"], f"/v1/containers/{box}/attach/ws"):
        with pytest.raises(websockets.InvalidStatus) as info:
            await connect(server, path, role=role)
        assert info.value.response.status_code == 403
        assert b"admin" in info.value.response.body
    with pytest.raises(websockets.InvalidStatus) as info:
        await connect(server, t["ws"], role=None)
    assert info.value.response.status_code == 401
    assert processes(box) == before


async def test_a_ticket_opens_one_terminal_once(server: LiveServer, box: str) -> None:
    t = await open_exec(server, box, tty=True)
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.post("/v1/auth/tickets", json={"path": t["ws"]}, headers=bearer("admin"))
        assert r.status_code in (200, 201), r.text
        ticket = r.json()["ticket"]
    path = f"{t['ws']}?ticket={ticket}"
    async with connect(server, path, role=None) as ws:
        await ready(ws)
        await ws.send(b"echo ticketed\n")
        await read_until(ws, b"ticketed")
        ws.transport.abort()
    with pytest.raises(websockets.InvalidStatus) as info:
        await connect(server, path, role=None)
    assert info.value.response.status_code == 401


async def test_policy_refuses_a_root_terminal(strict: LiveServer, box: str) -> None:
    before = processes(box)
    async with httpx.AsyncClient(base_url=strict.url) as c:
        r = await c.post(f"/v1/containers/{box}/exec", json={"interactive": True, "tty": True})
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "policy-violation"
        r = await c.post(f"/v1/containers/{box}/exec", json={"interactive": True, "user": "0"})
        assert r.status_code == 403, r.text
    assert processes(box) == before
    # As another user the same terminal runs (and the policy saw that exec too).
    t = await open_exec(strict, box, role=None, tty=True, user="1000:1000")
    async with connect(strict, t["ws"], role=None) as ws:
        await ready(ws)
        await ws.send(b"id -u\n")
        await read_until(ws, b"1000")


async def refused_rows(server: LiveServer, path: str, headers: dict[str, str]) -> list[Any]:
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.get("/v1/audit", params={"outcome": "refused"}, headers=headers)
    assert r.status_code == 200, r.text
    return [e for e in r.json() if e["path"] == path]


async def test_refused_handshakes_are_audited(server: LiveServer, box: str) -> None:
    """A foreign origin, a low role, no or a used ticket: each refusal is a row (who,
    why), and the exec never ran."""
    t = await open_exec(server, box, tty=True)
    attach = f"/v1/containers/{box}/attach/ws"
    refusals: list[tuple[str, dict[str, Any], int]] = [
        (t["ws"], {"headers": {"Origin": "https://evil.example"}}, 403),
        (t["ws"], {"role": "viewer"}, 403),
        (attach, {"role": "operator"}, 403),
        (t["ws"], {"role": None}, 401),
    ]
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.post("/v1/auth/tickets", json={"path": t["ws"]}, headers=bearer("admin"))
        ticket = r.json()["ticket"]
    # Another origin is refused before the ticket is looked at (it stays unspent).
    used = f"{t['ws']}?ticket={ticket}"
    refusals += [(used, {"role": None, "headers": {"Origin": "https://evil.example"}}, 403)]
    for path, kw, status in refusals:
        with pytest.raises(websockets.InvalidStatus) as info:
            await connect(server, path, **kw)
        assert info.value.response.status_code == status
    assert not any("/bin/sh" in p for p in processes(box))  # nothing ran
    async with connect(server, used, role=None) as ws:
        await ready(ws)
    with pytest.raises(websockets.InvalidStatus) as info:
        await connect(server, used, role=None)  # used once already
    assert info.value.response.status_code == 401

    rows = await refused_rows(server, t["ws"], bearer("admin"))
    got = sorted((e["actor"], e["role"], e["status"], e["reason"]) for e in rows)
    assert got == sorted(
        [
            ("unauthenticated", "none", 403, "origin"),
            ("unauthenticated", "none", 403, "origin"),
            ("viewer-bot", "viewer", 403, "forbidden"),
            ("unauthenticated", "none", 401, "unauthorized"),
            ("unauthenticated", "none", 401, "unauthorized"),
        ]
    )
    assert all(e["action"] == "execs_ws" and e["method"] == "GET" for e in rows)
    assert all(e["target"] == t["exec_id"] for e in rows)
    assert all(ticket not in json.dumps(e) for e in rows)  # the ticket is not written
    (row,) = await refused_rows(server, attach, bearer("admin"))
    assert (row["actor"], row["action"], row["reason"]) == (
        "operator-bot",
        "containers_attach_ws",
        "forbidden",
    )


async def test_a_policy_refused_attach_is_audited(
    strict: LiveServer, name: str, image: str
) -> None:
    """Attach to a container that shares the host's IPC namespace (made outside
    moorage) is refused by the policy before the handshake is accepted, and written
    with its rule."""
    run_sleeper(image, name, "--ipc", "host")
    try:
        path = f"/v1/containers/{name}/attach/ws"
        with pytest.raises(websockets.InvalidStatus) as info:
            await connect(strict, path, role=None)
        assert info.value.response.status_code == 403
        assert b"policy-violation" in info.value.response.body
        (row,) = await refused_rows(strict, path, {})
        assert row["reason"] == "policy-violation"
        assert row["rule"] == "allow_host_namespaces"
        assert row["actor"] == "anonymous-loopback"
    finally:
        docker("rm", "-f", name, check=False)


async def test_each_session_is_audited(server: LiveServer, box: str) -> None:
    t = await open_exec(server, box, cmd=["sh", "-c", "exit 5"])
    async with connect(server, t["ws"]) as ws:
        await ready(ws)
        await until_exit(ws)
    async with httpx.AsyncClient(base_url=server.url) as c:

        async def row() -> dict[str, Any] | None:
            r = await c.get(
                "/v1/audit", params={"action": "terminal_exec"}, headers=bearer("admin")
            )
            assert r.status_code == 200, r.text
            rows = [e for e in r.json() if e["summary"].get("exec_id") == t["exec_id"]]
            return rows[0] if rows and rows[0]["summary"].get("end") else None

        async with asyncio.timeout(10):
            while (entry := await row()) is None:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
    assert entry["actor"] == "admin-bot"
    assert entry["status"] == 200
    s = entry["summary"]
    assert s["cmd"] == ["sh", "-c", "exit 5"]
    assert s["exit_code"] == 5
    assert s["start"] <= s["end"]
    assert entry["target"] == docker("inspect", "-f", "{{.Id}}", box).strip()


# -- limits ----------------------------------------------------------------------------


async def test_terminals_per_container_are_limited(server: LiveServer, box: str) -> None:
    opened = [await open_exec(server, box, tty=True) for _ in range(6)]
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.post(
            f"/v1/containers/{box}/exec", json={"interactive": True}, headers=bearer("admin")
        )
    assert r.status_code == 429, r.text
    assert r.json()["code"] == "too-many-terminals"
    for t in opened:  # closed at once: each frees its place
        async with connect(server, t["ws"]) as ws:
            await ready(ws)
            await ws.close()
    assert (await open_exec(server, box, tty=True))["exec_id"]


# -- the leak test ---------------------------------------------------------------------


@pytest.mark.slow
async def test_a_hundred_open_close_cycles_leave_no_process(server: LiveServer, box: str) -> None:
    """Every cycle leaves a background job, every other one a job that cleared its
    environment (`env -i`: no marker, only its session ties it to the terminal); half
    the shells exit by themselves first, half are closed with everything running."""
    baseline = len(processes(box))
    for i in range(100):
        t = await open_exec(server, box, tty=True)
        async with connect(server, t["ws"]) as ws:
            await ready(ws)
            # A background job, re-parented to PID 1 when the shell goes.
            line = f"sleep {2000 + i} & echo cycle-{i}\n"
            if i % 4 < 2:
                line = f"env -i sh -c 'sleep {3000 + i}' & " + line
            await ws.send(line.encode())
            await read_until(ws, f"cycle-{i}".encode())
            if i % 2:
                await ws.send(b"exit\n")
                await until_exit(ws)
            # else: the client closes (1000) with the shell and its jobs running
    await wait_for(lambda: len(processes(box)) == baseline, limit=30)
    left = processes(box)
    assert not any("sleep 2" in p or "sleep 3" in p for p in left), left


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.slow
async def test_a_client_that_stops_reading_cannot_grow_memory(server: LiveServer, box: str) -> None:
    assert server.proc is not None
    t = await open_exec(server, box, cmd=["yes", "y" * 1000])
    async with connect(server, t["ws"], max_queue=1) as ws:
        await ready(ws)
        await ws.recv()  # it flows
        before = rss_kib(server.proc.pid)
        await asyncio.sleep(4)  # `yes` writes as fast as it can; nobody reads
        grown = rss_kib(server.proc.pid) - before
        # The engine waits (its socket paused past 64 KiB), not moorage's memory.
        assert grown < 20_000, f"moorage grew {grown} KiB for an unread terminal"
        await ws.close()
    await wait_for(lambda: not any("yes" in p for p in processes(box)))


async def test_the_cli_client_pipes_stdin_and_returns_the_exit_code(
    server: LiveServer, box: str
) -> None:
    def run() -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", "exec", "-i", "--url", server.url, box,
             "sh", "-c", "cat > /cli.txt; echo wrote; echo warn >&2; exit 3"],
            input=b"through the cli\n", capture_output=True, timeout=60, check=False,
            env={**__import__("os").environ, "MOORAGE_TOKEN": TOKENS["admin"]},
        )  # fmt: skip

    done = await asyncio.to_thread(run)
    assert done.returncode == 3, done.stderr
    assert done.stdout == b"wrote\n"
    assert done.stderr == b"warn\n"
    assert docker("exec", box, "cat", "/cli.txt") == "through the cli\n"


async def test_the_session_cookie_works_from_its_own_origin_only(
    server: LiveServer, box: str
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.post("/v1/auth/session", headers=bearer("admin"))
        assert r.status_code in (200, 201), r.text
        cookie = f"moorage_session={r.cookies['moorage_session']}"
    t = await open_exec(server, box, tty=True)
    # A page elsewhere: the browser sends the cookie, moorage refuses the handshake.
    with pytest.raises(websockets.InvalidStatus) as info:
        await connect(
            server, t["ws"], role=None, headers={"Cookie": cookie, "Origin": "https://evil.example"}
        )
    assert info.value.response.status_code == 403
    host = server.url.removeprefix("http://")
    own = {"Cookie": cookie, "Origin": f"http://{host}"}
    async with connect(server, t["ws"], role=None, headers=own) as ws:
        await ready(ws)
        await ws.send(b"echo via-cookie\n")
        await read_until(ws, b"via-cookie")


async def test_shutdown_ends_every_terminal_and_its_processes(
    tmp_path: Path, name: str, image: str
) -> None:
    run_sleeper(image, name)
    baseline = len(processes(name))
    live = Served(env={"MOORAGE_AUDIT_DB": str(tmp_path / "a.sqlite3")}).start(wait_ready=True)
    try:
        t = await open_exec(live, name, role=None, tty=True)
        ws = await connect(live, t["ws"], role=None)
        await ready(ws)
        await ws.send(b"sleep 1234 &\n")
        await wait_for(lambda: any("sleep 1234" in p for p in processes(name)))
        assert live.proc is not None
        live.proc.terminate()
        await asyncio.to_thread(live.proc.wait, 30)
    finally:
        live.stop()
    await wait_for(lambda: len(processes(name)) == baseline)


async def test_an_exit_while_detached_is_told_on_reattach(server: LiveServer, box: str) -> None:
    t = await open_exec(server, box, tty=True)
    ws = await connect(server, t["ws"])
    await ready(ws)
    await ws.send(b"sleep 1; echo gone-$((5*5)); exit 9\n")
    await read_until(ws, b"echo gone")  # the echo of the line typed, not its output
    ws.transport.abort()
    await asyncio.sleep(2)  # it exits meanwhile, nobody connected
    async with connect(server, t["ws"]) as again:
        await ready(again)
        out, frame = await until_exit(again)
    assert b"gone-25" in out
    assert frame == {"type": "exit", "exit_code": 9}


async def test_attach_without_a_tty_keeps_its_streams_apart(
    server: LiveServer, name: str, image: str
) -> None:
    docker(
        "run", "-di", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}",
        "--name", name, image, "sh",
    )  # fmt: skip
    try:
        async with connect(server, f"/v1/containers/{name}/attach/ws") as ws:
            assert (await ready(ws))["channels"] is True
            await ws.send(b"echo on-out; echo on-err >&2\n")
            frames: list[bytes] = []
            async with asyncio.timeout(15):
                while b"on-err" not in b"".join(frames) or b"on-out" not in b"".join(frames):
                    msg = await ws.recv()
                    assert isinstance(msg, bytes)
                    frames.append(msg)
        assert b"".join(f[1:] for f in frames if f[0] == 1) == b"on-out\n"
        assert b"".join(f[1:] for f in frames if f[0] == 2) == b"on-err\n"
        await asyncio.sleep(0.3)
        assert docker("inspect", "-f", "{{.State.Running}}", name).strip() == "true"
    finally:
        docker("rm", "-f", name, check=False)


async def test_a_session_can_be_recorded_as_asciicast(
    tmp_path: Path, name: str, image: str
) -> None:
    run_sleeper(image, name)
    folder = tmp_path / "casts"
    live = Served(
        env={
            "MOORAGE_AUDIT_DB": str(tmp_path / "a.sqlite3"),
            "MOORAGE_TERMINAL_RECORDINGS": str(folder),
        }
    ).start(wait_ready=True)
    try:
        t = await open_exec(live, name, role=None, tty=True, rows=30, cols=90)
        async with connect(live, t["ws"], role=None) as ws:
            await ready(ws)
            await ws.send(json.dumps({"type": "resize", "rows": 31, "cols": 91}))
            await ws.send(b"echo rec-$((8*8)); exit\n")
            await until_exit(ws)
    finally:
        live.stop()
    (cast,) = folder.glob("*.cast")
    lines = [json.loads(line) for line in cast.read_text().splitlines()]
    assert lines[0]["version"] == 2
    assert (lines[0]["width"], lines[0]["height"]) == (90, 30)
    assert any(e[1] == "r" and e[2] == "91x31" for e in lines[1:])
    assert "rec-64" in "".join(e[2] for e in lines[1:] if e[1] == "o")
    assert all(e[1] != "i" for e in lines[1:])  # what was typed is not kept
