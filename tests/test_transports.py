"""Every transport against a real engine: TCP + TLS with client certificates (a private
dockerd with --tlsverify) and SSH (Debian's sshd on a loopback port, dial-stdio).

What a host's `error` shows comes from here: each failure is an `EngineUnavailable`
whose detail names the cause, raised well within a bound (never a hang).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import aiodocker
import aiohttp
import pytest

from app import errors, transports
from app.engine import Engine, Hijacked, translate_docker_error
from app.settings import Settings
from app.targets import SshFiles, Target, TlsFiles
from tests.conftest import TEST_IMAGE
from tests.transport_harness import SshEngine, TlsEngine, remote, ssh_engine, tls_engine

__all__ = ["remote", "ssh_engine", "tls_engine"]

CONNECT_TIMEOUT = 3.0
# A guard against hangs, not a timing assertion: every failure below must come back
# by itself long before this.
NEVER_HANG = CONNECT_TIMEOUT * 4

SETTINGS = Settings(engine_connect_timeout=CONNECT_TIMEOUT, engine_timeout=20)


@pytest.fixture
async def engine(remote: TlsEngine | SshEngine) -> AsyncIterator[Engine]:
    e = Engine(SETTINGS, remote.name, remote.target())
    try:
        yield e
    finally:
        await e.close()


async def refused(target: Target) -> str:
    """The detail of the EngineUnavailable a fresh engine on `target` answers a ping."""
    e = Engine(SETTINGS, "t", target)
    try:
        async with asyncio.timeout(NEVER_HANG):
            with pytest.raises(errors.EngineUnavailable) as info:
                await e.ping()
    finally:
        await e.close()
    return info.value.detail


def sleeper(remote: TlsEngine | SshEngine, *cmd: str) -> str:
    """A container on the remote engine (its CLI, on its own unix socket)."""
    name = f"mt-transport-{uuid.uuid4().hex[:8]}"
    remote.docker(
        "run",
        "-d",
        "--name",
        name,
        "--label",
        "mt.transport=1",
        TEST_IMAGE,
        *(cmd or ("sleep", "600")),
    )
    return name


async def test_ping_version_list_and_a_pinned_api_version(
    remote: TlsEngine | SshEngine, engine: Engine
) -> None:
    box = sleeper(remote)
    try:
        assert await engine.ping() is True
        # Pinned from the probe: aiodocker's own "auto" lookup never runs.
        assert await engine.negotiate() == "1.41"
        assert engine.docker.api_version == "v1.41"
        version = await engine.json("GET", "version")
        assert version["ApiVersion"] == "1.41"
        listed = await engine.json("GET", "containers/json", params={"filters": {"name": [box]}})
        assert [c["Names"] for c in listed] == [[f"/{box}"]]
        assert listed[0]["Id"] == remote.docker("inspect", "-f", "{{.Id}}", box).strip()
    finally:
        remote.docker("rm", "-f", box, check=False)


async def test_create_start_and_logs_history_and_follow_unchunked(
    remote: TlsEngine | SshEngine, engine: Engine
) -> None:
    """The log stream's own call (HTTP/1.0, no chunks) works over the transport."""
    name = f"mt-transport-{uuid.uuid4().hex[:8]}"
    created = await engine.json(
        "POST",
        "containers/create",
        params={"name": name},
        json={
            "Image": TEST_IMAGE,
            "Cmd": ["sh", "-c", "echo one; echo two >&2; sleep 1; echo three; sleep 600"],
            "Labels": {"mt.transport": "1"},
        },
    )
    try:
        async with engine.request("POST", f"containers/{created['Id']}/start"):
            pass
        assert remote.docker("inspect", "-f", "{{.State.Running}}", name).strip() == "true"
        params = {"stdout": True, "stderr": True, "follow": True}
        got = b""
        async with asyncio.timeout(30):
            async with engine.request(
                "GET", f"containers/{name}/logs", params=params, long=True, unchunked=True
            ) as response:
                assert response.version == aiohttp.HttpVersion10
                async for chunk in response.content.iter_any():
                    got += chunk
                    if b"three" in got:
                        break
        # The multiplexed frames: stream type 1 stdout, 2 stderr.
        assert b"\x01\x00\x00\x00\x00\x00\x00\x04one\n" in got
        assert b"\x02\x00\x00\x00\x00\x00\x00\x04two\n" in got
        async with engine.request(
            "GET", f"containers/{name}/logs", params={"stdout": True}, unchunked=True
        ) as response:
            history = await response.read()
        assert b"one\n" in history
        assert b"three\n" in history
        assert b"two" not in history
    finally:
        remote.docker("rm", "-f", name, check=False)


async def test_exec_and_events(remote: TlsEngine | SshEngine, engine: Engine) -> None:
    box = sleeper(remote)
    try:
        await engine.ping()
        since = int(time.time()) - 2  # same machine, same clock
        exe = await engine.json(
            "POST",
            f"containers/{box}/exec",
            json={"Cmd": ["sh", "-c", "echo out-$((6*7))"], "AttachStdout": True},
        )
        async with engine.request(
            "POST", f"exec/{exe['Id']}/start", json={"Detach": False, "Tty": False}, long=True
        ) as response:
            output = await response.read()
        assert output.endswith(b"out-42\n")
        inspected = await engine.json("GET", f"exec/{exe['Id']}/json")
        assert inspected["ExitCode"] == 0
        remote.docker("kill", box)
        async with (
            asyncio.timeout(30),
            engine.request(
                "GET",
                "events",
                params={"since": since, "filters": {"container": [box], "event": ["die"]}},
                long=True,
            ) as response,
        ):
            line = await response.content.readline()
        assert b'"die"' in line
        assert box.encode() in line
    finally:
        remote.docker("rm", "-f", box, check=False)


async def hijacked_exec(engine: Engine, box: str, script: str) -> Hijacked:
    exe = await engine.json(
        "POST",
        f"containers/{box}/exec",
        json={
            "Cmd": ["sh", "-c", script],
            "AttachStdin": True,
            "AttachStdout": True,
            "AttachStderr": True,
            "Tty": False,
        },
    )
    return await engine.hijack(
        f"exec/{exe['Id']}/start", tty=False, json={"Detach": False, "Tty": False}
    )


async def read_all(hijacked: Hijacked) -> bytes:
    out = b""
    async with asyncio.timeout(30):
        while (msg := await hijacked.read()) is not None:
            assert msg[0] == 1
            out += msg[1]
    return out


async def test_a_terminal_hijack(remote: TlsEngine | SshEngine, engine: Engine) -> None:
    """Engine.hijack (the terminals' connection): stdin in, output out."""
    box = sleeper(remote)
    try:
        await engine.ping()
        hijacked = await hijacked_exec(engine, box, "read line; echo got-$line")
        try:
            await hijacked.write(b"hello-over-the-wire\n")
            out = await read_all(hijacked)
        finally:
            hijacked.close()
        assert out == b"got-hello-over-the-wire\n"
    finally:
        remote.docker("rm", "-f", box, check=False)


async def test_stdin_eof_over_ssh(ssh_engine: SshEngine) -> None:
    """Closing stdin and reading on (what `cat > file` needs) travels over SSH as the
    channel's EOF. (Over TLS, asyncio cannot half-close: write_eof does nothing.)"""
    box = sleeper(ssh_engine)
    e = Engine(SETTINGS, "ssh", ssh_engine.target())
    try:
        await e.ping()
        hijacked = await hijacked_exec(e, box, "cat; echo done-$?")
        try:
            await hijacked.write(b"hello\n")
            hijacked.write_eof()
            out = await read_all(hijacked)
        finally:
            hijacked.close()
        assert out == b"hello\ndone-0\n"
    finally:
        await e.close()
        ssh_engine.docker("rm", "-f", box, check=False)


# --- failures, each named --------------------------------------------------------


async def test_tls_failures_name_their_cause(tls_engine: TlsEngine) -> None:
    certs, rogue = tls_engine.certs, tls_engine.rogue
    no_cert = await refused(tls_engine.target(TlsFiles(ca=certs / "ca.pem")))
    assert "refused moorage's TLS client certificate" in no_cert, no_cert

    bad_cert = await refused(
        tls_engine.target(
            TlsFiles(ca=certs / "ca.pem", cert=rogue / "cert.pem", key=rogue / "key.pem")
        )
    )
    # OpenSSL reports the engine's alert, or a reset when the engine's close wins.
    assert re.search(r"refused moorage's TLS client certificate|reset the TLS connection", bad_cert)

    wrong_ca = await refused(
        tls_engine.target(
            TlsFiles(ca=rogue / "ca.pem", cert=certs / "cert.pem", key=certs / "key.pem")
        )
    )
    assert "TLS certificate did not verify" in wrong_ca, wrong_ca

    plain = await refused(Target(tls_engine.url))
    assert "speaks TLS on that port" in plain, plain

    missing = await refused(tls_engine.target(TlsFiles(ca=certs / "nope.pem")))
    assert f"TLS CA file {certs / 'nope.pem'} does not exist" in missing, missing


async def test_tcp_with_tls_files_is_https(tls_engine: TlsEngine) -> None:
    """`tcp://` plus TLS files speaks TLS (aiodocker alone would send plain HTTP)."""
    e = Engine(SETTINGS, "t", tls_engine.target())
    try:
        assert str(e.docker._canonicalize_url("_ping", versioned_api=False)).startswith(
            "https://127.0.0.1:"
        )
        assert await e.ping() is True
    finally:
        await e.close()


async def test_ssh_failures_name_their_cause(ssh_engine: SshEngine) -> None:
    client = ssh_engine.client
    unknown = await refused(
        ssh_engine.target(
            SshFiles(key=client / "id_ed25519", known_hosts=client / "known_hosts.other")
        )
    )
    assert re.search(r"host key of 127\.0\.0\.1:\d+ is not trusted", unknown), unknown

    refused_key = await refused(
        ssh_engine.target(
            SshFiles(key=client / "other_ed25519", known_hosts=client / "known_hosts")
        )
    )
    assert "refused the key for user root" in refused_key, refused_key

    no_file = await refused(
        ssh_engine.target(SshFiles(key=client / "id_ed25519", known_hosts=client / "nope"))
    )
    assert re.search(r"known_hosts file \S+ does not exist", no_file), no_file

    # sshd goes away under an engine that was connected: its next call says so.
    connected = Engine(SETTINGS, "t", ssh_engine.target())
    try:
        assert await connected.ping() is True
        ssh_engine.sshd_down()
        async with asyncio.timeout(NEVER_HANG):
            with pytest.raises(errors.EngineUnavailable) as info:
                await connected.ping()
        assert "refused the connection" in info.value.detail, info.value.detail
        down = await refused(ssh_engine.target())
        assert "refused the connection" in down, down
    finally:
        await connected.close()
        ssh_engine.sshd_up()

    # sshd stalled: the TCP connect succeeds, no SSH banner ever comes.
    with ssh_engine.sshd_stalled():
        stalled = await refused(ssh_engine.target())
    assert "did not answer within 3 s" in stalled, stalled

    # sshd answers, the engine behind it does not: dial-stdio's own words.
    ssh_engine.engine_down()
    try:
        no_engine = await refused(ssh_engine.target())
        assert "`docker system dial-stdio` on the SSH host failed" in no_engine, no_engine
        assert "docker.sock" in no_engine
    finally:
        ssh_engine.start()


async def test_a_stalled_engine_is_a_clear_error(remote: TlsEngine | SshEngine) -> None:
    """SIGSTOP: connects succeed and nothing answers; a probe says so, on a fresh
    engine and on one whose pooled connection was open before."""
    pooled = Engine(SETTINGS, "pooled", remote.target())
    await pooled.ping()
    remote.pause()
    try:
        for e in (pooled, Engine(SETTINGS, "fresh", remote.target())):
            try:
                async with asyncio.timeout(NEVER_HANG):
                    with pytest.raises(errors.EngineUnavailable) as info:
                        await (e.ping() if e is pooled else e.negotiate())
                assert "did not answer within 3 s (stopped or hung)" in info.value.detail
                assert info.value.headers["Retry-After"] == str(SETTINGS.engine_retry_after)
            finally:
                await e.close()
    finally:
        remote.resume()


# --- SSH specifics ----------------------------------------------------------------


async def test_ssh_sends_no_environment(
    ssh_engine: SshEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sshd here accepts any variable (AcceptEnv *) and records what each session got:
    none of moorage's environment arrives (aiodocker's transport would send it all)."""
    secret = f"s3cret-{uuid.uuid4().hex}"
    monkeypatch.setenv("MOORAGE_TEST_SECRET", secret)
    monkeypatch.setenv("LC_SECRET", secret)  # LC_* is what ssh(1) sends by default
    before = len(ssh_engine.session_envs())
    e = Engine(SETTINGS, "ssh", ssh_engine.target())
    try:
        assert await e.ping() is True
    finally:
        await e.close()
    envs = ssh_engine.session_envs()
    assert len(envs) > before  # the recorder saw our sessions
    for env in envs[before:]:
        assert secret not in env
        assert "DOCKER_HOST=unix://" in env  # sshd's own SetEnv, nothing of ours
    # The recorder would have caught it: the CLI sending the variable shows it.
    proc = await asyncio.create_subprocess_exec(
        "ssh", "-p", ssh_engine.url.rsplit(":", 1)[1], "-i", str(ssh_engine.client / "id_ed25519"),
        "-o", f"UserKnownHostsFile={ssh_engine.client / 'known_hosts'}", "-o", "IdentitiesOnly=yes",
        "-o", "SendEnv=MOORAGE_TEST_SECRET", "-o", "BatchMode=yes", "root@127.0.0.1", "true",
    )  # fmt: skip
    assert await proc.wait() == 0
    assert secret in ssh_engine.session_envs()[-1]


async def hold_follows(stack: AsyncExitStack, e: Engine, box: str, n: int) -> None:
    """`n` log follows of container `box` held open on `stack`, each answered 200."""
    for _ in range(n):
        response = await stack.enter_async_context(
            e.request(
                "GET", f"containers/{box}/logs", params={"stdout": True, "follow": True}, long=True
            )
        )
        assert response.status == 200


async def test_ssh_more_concurrent_requests_than_sessions_per_connection(
    ssh_engine: SshEngine,
) -> None:
    """16 streams held open at once (OpenSSH allows 10 sessions per connection): they
    spread over several SSH connections, and one more call still answers."""
    box = sleeper(ssh_engine)
    e = Engine(SETTINGS, "ssh", ssh_engine.target())
    try:
        await e.ping()
        async with AsyncExitStack() as stack:
            await hold_follows(stack, e, box, 16)
            assert await e.ping() is True
            assert e._ssh is not None
            assert e._ssh.connections >= 2
            assert ssh_engine.dial_stdio() >= 16
    finally:
        await e.close()
        ssh_engine.docker("rm", "-f", box, check=False)


async def test_ssh_a_server_allowing_fewer_sessions(ssh_engine: SshEngine) -> None:
    """sshd with MaxSessions 3: the refused session opens another SSH connection
    instead of failing the request."""
    ssh_engine.sshd_down()
    ssh_engine.sshd_up(max_sessions=3)
    box = sleeper(ssh_engine)
    e = Engine(SETTINGS, "ssh", ssh_engine.target())
    try:
        async with AsyncExitStack() as stack:
            await hold_follows(stack, e, box, 8)
            assert await e.ping() is True
            assert e._ssh is not None
            assert e._ssh.connections >= 3
    finally:
        await e.close()
        ssh_engine.docker("rm", "-f", box, check=False)
        ssh_engine.sshd_down()
        ssh_engine.sshd_up()


async def test_ssh_closed_streams_leave_no_dial_stdio(ssh_engine: SshEngine) -> None:
    """50 log streams opened and closed: no remote dial-stdio outlives them beyond the
    few idle pooled connections, and none at all once the engine is closed."""
    box = sleeper(ssh_engine)
    e = Engine(SETTINGS, "ssh", ssh_engine.target())
    try:
        await e.ping()
        for i in range(50):
            async with e.request(
                "GET",
                f"containers/{box}/logs",
                params={"stdout": True, "follow": True},
                long=True,
                unchunked=i % 2 == 0,  # both ways a stream is read
            ) as response:
                assert response.status == 200
        idle = sum(len(v) for v in e.docker.connector._conns.values())
        assert await wait_until(lambda: ssh_engine.dial_stdio() <= idle + 1)
    finally:
        await e.close()
        ssh_engine.docker("rm", "-f", box, check=False)
    assert await wait_until(lambda: ssh_engine.dial_stdio() == 0)


async def wait_until(cond: Callable[[], bool], limit: float = 20) -> bool:
    async with asyncio.timeout(limit + 5):
        for _ in range(int(limit / 0.2)):
            if cond():
                return True
            await asyncio.sleep(0.2)
    return cond()


# --- credentials ---------------------------------------------------------------------


async def test_credentials_never_in_logs_errors_or_urls(
    tls_engine: TlsEngine, ssh_engine: SshEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    details: list[str] = []
    for target in (
        tls_engine.target(),
        ssh_engine.target(),
        tls_engine.target(TlsFiles(ca=tls_engine.certs / "ca.pem")),
        ssh_engine.target(
            SshFiles(
                key=ssh_engine.client / "other_ed25519",
                known_hosts=ssh_engine.client / "known_hosts",
            )
        ),
    ):
        e = Engine(SETTINGS, "t", target)
        try:
            async with asyncio.timeout(NEVER_HANG):
                await e.ping()
        except errors.ProblemError as exc:
            details.append(exc.detail)
        finally:
            await e.close()
    assert len(details) == 2
    text = caplog.text + "\n".join(details)
    for line in tls_engine.secrets() + ssh_engine.secrets():
        assert line not in text
    # A password in an ssh:// URL is refused, and never shown.
    with pytest.raises(transports.InvalidTarget) as info:
        transports.validate(Target("ssh://root:hunter2@127.0.0.1:22"))
    assert "hunter2" not in str(info.value)
    e = Engine(SETTINGS, "t", Target("ssh://root:hunter2@127.0.0.1:22"))
    try:
        assert e.display_url == "ssh://root@127.0.0.1:22"
        with pytest.raises(errors.EngineUnavailable) as refusal:
            await e.ping()
        assert "hunter2" not in refusal.value.detail
        assert "take no password" in refusal.value.detail
    finally:
        await e.close()


def test_safe_url_and_validate() -> None:
    assert transports.safe_url("ssh://me:pw@h:22") == "ssh://me@h:22"
    assert transports.safe_url("ssh://me@h") == "ssh://me@h"
    assert transports.safe_url("tcp://h:2376") == "tcp://h:2376"
    for bad in (
        Target("ftp://h"),
        Target("ssh://h", tls=TlsFiles()),
        Target("tcp://h:2376", ssh=SshFiles()),
        Target("unix:///x.sock", tls=TlsFiles()),
        Target("ssh://"),
    ):
        with pytest.raises(transports.InvalidTarget):
            transports.validate(bad)
    transports.validate(Target("tcp://h:2376", tls=TlsFiles(ca=Path("/ca.pem"))))


def test_explain_names_known_causes() -> None:
    cases = {
        "[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate": "client certificate",
        "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert": "client certificate",
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed": "did not verify",
        "[SSL: WRONG_VERSION_NUMBER] wrong version number": "does not speak TLS",
        "Client sent an HTTP request to an HTTPS server.": "speaks TLS on that port",
    }
    for message, cause in cases.items():
        explained = transports.explain(message)
        assert cause in explained
        assert explained.endswith(message)
    assert transports.explain("something else") == "something else"


def test_translate_plain_http_to_a_tls_engine_is_unavailable_not_bad_request() -> None:
    exc = translate_docker_error(
        aiodocker.DockerError(400, "Client sent an HTTP request to an HTTPS server.")
    )
    assert isinstance(exc, errors.EngineUnavailable)
    assert "give the host its `tls` files" in exc.detail


def test_tls_context_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    with pytest.raises(transports.InvalidTarget, match="does not exist"):
        transports.tls_context(TlsFiles(ca=tmp_path / "none.pem"))
    (tmp_path / "cert.pem").write_text("not a certificate")
    with pytest.raises(transports.InvalidTarget, match="both a client certificate and its key"):
        transports.tls_context(TlsFiles(cert=tmp_path / "cert.pem"))
    (tmp_path / "key.pem").write_text("not a key")
    with pytest.raises(transports.InvalidTarget, match="TLS files unusable"):
        transports.tls_context(TlsFiles(cert=tmp_path / "cert.pem", key=tmp_path / "key.pem"))
    ctx = transports.tls_context(TlsFiles(verify=False))
    assert ctx.verify_mode == ssl.CERT_NONE


def plain_tcp_engine() -> str:
    """The shared engine's plain TCP listener, when it has one (read-only use)."""
    url = "tcp://127.0.0.1:2375"
    try:
        with socket.create_connection(("127.0.0.1", 2375), timeout=1):
            return url
    except OSError:
        pytest.skip("the shared engine has no plain TCP listener here")


async def test_plain_tcp_and_tls_to_a_plain_engine() -> None:
    url = plain_tcp_engine()
    e = Engine(SETTINGS, "tcp", Target(url))
    try:
        assert await e.ping() is True
        assert isinstance(await e.json("GET", "containers/json"), list)
    finally:
        await e.close()
    detail = await refused(Target(url, tls=TlsFiles(verify=False)))
    assert "does not speak TLS on that port" in detail, detail
