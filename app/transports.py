"""How moorage reaches an engine: the aiohttp connector for each kind of `Target`.

    unix:///path            aiohttp's UnixConnector (bounded pool)
    tcp://h:p with tls      https://h:p with an SSLContext made from the `TlsFiles`
                            (aiodocker given `tcp://` and a context speaks plain HTTP and
                            the engine answers 400 "HTTP request to an HTTPS server")
    tcp://, http://         plain HTTP; https:// without files: the system's CAs
    ssh://user@host[:port]  `SshConnector`: asyncssh connections, each HTTP connection one
                            SSH session running `docker system dial-stdio` on the host

A target that cannot even be set up (a certificate file missing, a password in an
ssh:// URL) still gets a client: every call through it fails with the reason, so a
misconfigured host is a host that is down with an error, not a crash at start.

Failures before any HTTP are `TransportError`s whose message names the cause; aiodocker
reports them as `DockerError(900, …)` and app/engine.py as 503 engine-unavailable with
`explain()`'s wording. No message carries a key or a password (user@host is fine).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import logging
import re
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncssh
from aiohttp.client_proto import ResponseHandler
from aiohttp.connector import HIGH_LEVEL_SCHEMA_SET

from app.targets import SshFiles, Target, TlsFiles

log = logging.getLogger("moorage.transports")
# One SSH session per engine connection: asyncssh's INFO lines would come per request.
if logging.getLogger("asyncssh").level == logging.NOTSET:
    logging.getLogger("asyncssh").setLevel(logging.WARNING)

# OpenSSH allows 10 sessions per connection (MaxSessions); the 11th channel open fails
# and aiohttp sees "Server disconnected", which reads as the host going down. Stay below
# it and open another SSH connection instead.
SSH_SESSIONS_PER_CONNECTION = 8
# What the pooled (non-hijack) client may hold at once over SSH: 8 SSH connections.
SSH_POOL_LIMIT = 64
DIAL_STDIO = "docker system dial-stdio"


class TransportError(aiohttp.ClientConnectionError):
    """The way to the engine failed before any HTTP; the message names the cause."""


class InvalidTarget(ValueError):
    """A target that no transport can use (scheme, password in the URL, files)."""


def safe_url(url: str) -> str:
    """The URL as it may be shown: a password (never supported) removed, user@ kept."""
    return re.sub(r"^([a-z]+://[^:/@]*):[^@/]*@", r"\1@", url)


def validate(target: Target) -> None:
    """Refuse what no transport can use; the hosts file and API call this on input."""
    url = target.url
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in ("unix", "tcp", "http", "https", "ssh"):
        raise InvalidTarget(f"{safe_url(url)!r}: use unix://, tcp://, https:// or ssh://")
    if scheme == "ssh":
        parts = urlsplit(url)
        if parts.password is not None:
            raise InvalidTarget("ssh:// URLs take no password: authenticate with a key (ssh.key)")
        if not parts.hostname:
            raise InvalidTarget(f"{safe_url(url)!r}: no host name")
        if target.tls is not None:
            raise InvalidTarget("tls applies to tcp:// engines, not ssh://")
    elif target.ssh is not None:
        raise InvalidTarget(f"ssh settings apply to ssh:// engines, not {scheme}://")
    if scheme == "unix" and target.tls is not None:
        raise InvalidTarget("tls applies to tcp:// engines, not unix://")


def tls_context(tls: TlsFiles) -> ssl.SSLContext:
    """The client's TLS context: the CA that signed the engine, the client's pair.

    A file that is named but missing is an error now (silently going without a client
    certificate only shows later as the engine's "bad certificate")."""
    for what, path in (("CA", tls.ca), ("client certificate", tls.cert), ("key", tls.key)):
        if path is not None and not path.is_file():
            raise InvalidTarget(f"TLS {what} file {path} does not exist")
    if (tls.cert is None) != (tls.key is None):
        raise InvalidTarget("TLS needs both a client certificate and its key, or neither")
    ctx = ssl.create_default_context()
    try:
        if tls.ca is not None:
            ctx.load_verify_locations(cafile=str(tls.ca))
        if tls.cert is not None and tls.key is not None:
            ctx.load_cert_chain(certfile=str(tls.cert), keyfile=str(tls.key))
    except (ssl.SSLError, OSError) as exc:
        # ssl's messages name the file's problem, not its content.
        raise InvalidTarget(f"TLS files unusable: {exc}") from exc
    if not tls.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


# Low-level messages (OpenSSL, aiohttp, the engine) → the cause, in words for a host's
# `error`. The original text follows the explanation.
_CAUSES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"ALERT_BAD_CERTIFICATE|CERTIFICATE_REQUIRED|ALERT_UNKNOWN_CA|tls: bad certificate",
            re.I,
        ),
        "the engine refused moorage's TLS client certificate (none was sent, or it is not "
        "signed by the CA the engine trusts)",
    ),
    (
        re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed", re.I),
        "the engine's TLS certificate did not verify (not signed by the configured CA, or "
        "not issued for this address)",
    ),
    (
        re.compile(r"WRONG_VERSION_NUMBER|record layer failure|packet length too long", re.I),
        "the engine does not speak TLS on that port (drop `tls`, or check the port)",
    ),
    (
        re.compile(r"HTTP request to an HTTPS server", re.I),
        "the engine speaks TLS on that port: give the host its `tls` files",
    ),
]


def explain(message: str) -> str:
    """The message with its cause in front, when the cause is a known one."""
    for pattern, cause in _CAUSES:
        if pattern.search(message):
            return f"{cause}: {message}"
    return message


# aiodocker's wording of a connection failure (its made-up status 900).
_AIODOCKER_900 = re.compile(r"^Cannot connect to Docker Engine via (\S+) \[(.*)\]$", re.S)
UNREACHABLE = "Cannot reach the Docker engine"


def describe_unreachable(message: str) -> str:
    """A 900's message as a host's error: where, then the cause, then the details."""
    match = _AIODOCKER_900.match(message)
    if match is None:
        return f"{UNREACHABLE}: {explain(message)}"
    return f"{UNREACHABLE} at {match[1]}: {explain(match[2])}"


def explain_tls_reset(detail: str) -> str:
    """A TLS engine that reset the connection: most likely a refused client certificate."""
    head, sep, rest = detail.partition(": ")
    if not sep:
        head, rest = UNREACHABLE, detail
    return (
        f"{head}: the engine reset the TLS connection (it most likely refuses moorage's "
        f"client certificate: not signed by the CA it trusts): {rest}"
    )


class FailingConnector(aiohttp.BaseConnector):
    """The connector of a target that cannot be set up: each connect fails with why."""

    allowed_protocol_schema_set = HIGH_LEVEL_SCHEMA_SET | frozenset({"unix"})

    def __init__(self, reason: str) -> None:
        super().__init__(limit=1)
        self.reason = reason

    async def _create_connection(
        self,
        req: aiohttp.ClientRequest,
        traces: Any,
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> ResponseHandler:
        raise TransportError(self.reason)


def connector_for(
    target: Target, *, limit: int, tunnel: SshTunnel | None
) -> tuple[str, aiohttp.BaseConnector]:
    """(the base URL aiodocker composes requests from, the connector) for a target.

    Raises `InvalidTarget`; `tunnel` is the engine's SSH connections (ssh:// only)."""
    validate(target)
    url = target.url
    if url.startswith("unix://"):
        return "unix://localhost", aiohttp.UnixConnector(url.removeprefix("unix://"), limit=limit)
    if url.startswith("ssh://"):
        assert tunnel is not None
        return "unix://localhost", SshConnector(tunnel, limit=limit)
    hostport = re.sub(r"^[a-z]+://", "", url).rstrip("/")
    ctx = tls_context(target.tls) if target.tls is not None else None
    if ctx is None and url.startswith("https://"):
        ctx = ssl.create_default_context()
    scheme = "https" if ctx is not None else "http"
    connector = aiohttp.TCPConnector(limit=limit, ssl=ctx if ctx is not None else False)
    return f"{scheme}://{hostport}", connector


# --- SSH -------------------------------------------------------------------------


@dataclass
class _SshConnection:
    ssh: asyncssh.SSHClientConnection
    sessions: int = 0
    capacity: int = SSH_SESSIONS_PER_CONNECTION


class SshTunnel:
    """The SSH connections to one engine's host, shared by the engine's clients.

    Each `dial()` opens one session running `docker system dial-stdio` on a connection
    with a free session (opening another connection when all are full). Nothing of
    moorage's environment travels: sessions get an empty environment and no config
    file, agent or forwarding is used; the host key is always checked against
    known_hosts (the given file, else ~/.ssh/known_hosts)."""

    def __init__(
        self, url: str, files: SshFiles | None, connect_timeout: float, keepalive: float = 15.0
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port or 22
        self.user = parts.username or getpass.getuser()
        self.where = f"{self.user}@{self.host}:{self.port}"
        self.files = files or SshFiles()
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self._conns: list[_SshConnection] = []
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def connections(self) -> int:
        """SSH connections open now."""
        return sum(1 for c in self._conns if not c.ssh.is_closed())

    async def dial(self, protocol_factory: Callable[[], ResponseHandler]) -> ResponseHandler:
        """One new engine connection: an aiohttp protocol fed by a dial-stdio session."""
        for attempt in range(2):
            conn = await self._reserve()
            protocol = protocol_factory()
            released = False

            def release(conn: _SshConnection = conn) -> None:
                nonlocal released
                if not released:
                    released = True
                    conn.sessions -= 1

            try:
                await conn.ssh.create_session(
                    functools.partial(_DialStdio, protocol, release),
                    DIAL_STDIO,
                    env={},
                    send_env=None,
                    request_pty=False,
                    encoding=None,
                )
            except asyncssh.ChannelOpenError as exc:
                release()
                # The server allows fewer sessions than we assumed: this connection is
                # full at what it holds; the next dial opens another one.
                conn.capacity = max(1, conn.sessions)
                if attempt:
                    raise TransportError(
                        f"SSH server {self.where} refused a session: {exc.reason}"
                    ) from exc
                continue
            except (asyncssh.Error, OSError) as exc:
                release()
                raise TransportError(f"SSH session to {self.where} failed: {exc}") from exc
            except BaseException:
                release()
                raise
            return protocol
        raise AssertionError("unreachable")

    async def _reserve(self) -> _SshConnection:
        async with self._lock:
            if self._closed:
                raise TransportError(f"SSH tunnel to {self.where} is closed")
            self._conns = [c for c in self._conns if not c.ssh.is_closed()]
            conn = next((c for c in self._conns if c.sessions < c.capacity), None)
            if conn is None:
                conn = _SshConnection(await self._connect())
                self._conns.append(conn)
            conn.sessions += 1
            return conn

    async def _connect(self) -> asyncssh.SSHClientConnection:
        files = self.files
        options: dict[str, Any] = {}
        if files.known_hosts is not None:
            if not files.known_hosts.is_file():
                raise TransportError(f"SSH known_hosts file {files.known_hosts} does not exist")
            options["known_hosts"] = str(files.known_hosts)
        # else asyncssh reads ~/.ssh/known_hosts: the host key is checked either way
        # (known_hosts=None would turn checking off: never passed).
        if files.key is not None:
            try:
                options["client_keys"] = [asyncssh.read_private_key(files.key)]
            except OSError as exc:
                raise TransportError(
                    f"SSH key file {files.key} cannot be read: {exc.strerror or exc}"
                ) from exc
            except asyncssh.KeyImportError as exc:
                raise TransportError(
                    f"SSH key file {files.key} is not a usable private key: {exc}"
                ) from exc
        try:
            async with asyncio.timeout(self.connect_timeout):
                return await asyncssh.connect(
                    self.host,
                    self.port,
                    username=self.user,
                    config=None,  # no ~/.ssh/config: the target says it all
                    agent_path=None,
                    agent_forwarding=False,
                    x11_forwarding=False,
                    password=None,
                    preferred_auth="publickey",
                    env={},
                    send_env=None,
                    connect_timeout=self.connect_timeout,
                    keepalive_interval=self.keepalive,
                    keepalive_count_max=3,
                    **options,
                )
        except asyncssh.HostKeyNotVerifiable as exc:
            where = f" ({files.known_hosts})" if files.known_hosts else ""
            raise TransportError(
                f"SSH host key of {self.host}:{self.port} is not trusted: it is not in "
                f"known_hosts{where}, or it changed ({exc.reason})"
            ) from exc
        except asyncssh.PermissionDenied as exc:
            raise TransportError(
                f"SSH server {self.host}:{self.port} refused the key for user {self.user}"
            ) from exc
        except TimeoutError as exc:
            raise TransportError(
                f"SSH server {self.host}:{self.port} did not answer within "
                f"{self.connect_timeout:g} s"
            ) from exc
        except ConnectionRefusedError as exc:
            raise TransportError(
                f"SSH server {self.host}:{self.port} refused the connection (no sshd there?)"
            ) from exc
        except OSError as exc:
            raise TransportError(
                f"Cannot reach the SSH server {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc
        except asyncssh.Error as exc:
            raise TransportError(f"SSH to {self.where} failed: {exc.reason}") from exc

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.ssh.close()
        for conn in conns:
            with contextlib.suppress(asyncssh.Error, OSError):
                await conn.ssh.wait_closed()


class SshConnector(aiohttp.BaseConnector):
    """aiohttp's pool over an `SshTunnel`: each connection is one dial-stdio session.

    Its limit bounds the sessions this client holds; the tunnel spreads them over
    as many SSH connections as it takes."""

    allowed_protocol_schema_set = HIGH_LEVEL_SCHEMA_SET | frozenset({"unix"})

    def __init__(self, tunnel: SshTunnel, *, limit: int) -> None:
        super().__init__(limit=limit)
        self.tunnel = tunnel

    async def _create_connection(
        self,
        req: aiohttp.ClientRequest,
        traces: Any,
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> ResponseHandler:
        try:
            async with asyncio.timeout(timeout.sock_connect):
                return await self.tunnel.dial(self._factory)
        except TimeoutError as exc:
            raise TransportError(
                f"SSH to {self.tunnel.where}: no session within {timeout.sock_connect:g} s"
            ) from exc


class _DialStdio(asyncssh.SSHClientSession[bytes]):
    """One dial-stdio session as the transport of one aiohttp protocol."""

    def __init__(self, protocol: ResponseHandler, released: Callable[[], None]) -> None:
        self._protocol = protocol
        self._released = released
        self._stderr = b""
        self._answered = False

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        self._protocol.connection_made(_ChannelTransport(chan))

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if datatype == asyncssh.EXTENDED_DATA_STDERR:
            self._stderr = (self._stderr + data)[-1024:]
            return
        self._answered = True
        self._protocol.data_received(data)

    def eof_received(self) -> bool:
        self._protocol.eof_received()
        return False  # the engine closed its side: close the channel

    def pause_writing(self) -> None:
        self._protocol.pause_writing()

    def resume_writing(self) -> None:
        self._protocol.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._released()
        if exc is None and not self._answered and self._stderr.strip():
            # dial-stdio itself failed (no docker CLI, no engine socket on that host).
            text = self._stderr.decode("utf-8", "replace").strip()
            exc = TransportError(f"`{DIAL_STDIO}` on the SSH host failed: {text}")
        self._protocol.connection_lost(exc)


class _ChannelTransport(asyncio.Transport):
    """An SSH channel in the shape of the socket transport aiohttp expects."""

    def __init__(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        super().__init__()
        self._chan = chan
        self._reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name in ("socket", "sslcontext", "ssl_object"):
            return default  # the SSH connection's socket is not this stream's
        return self._chan.get_extra_info(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._chan.write(bytes(data))

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self._chan.writelines([bytes(d) for d in list_of_data])

    def write_eof(self) -> None:
        self._chan.write_eof()

    def can_write_eof(self) -> bool:
        return bool(self._chan.can_write_eof())

    def get_write_buffer_size(self) -> int:
        return int(self._chan.get_write_buffer_size())

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._chan.set_write_buffer_limits(high, low)

    def is_closing(self) -> bool:
        return bool(self._chan.is_closing())

    def close(self) -> None:
        # Closing the channel closes dial-stdio's stdin: it half-closes its engine
        # connection, the engine ends the request, and dial-stdio exits.
        self._chan.close()

    def abort(self) -> None:
        self._chan.abort()

    def pause_reading(self) -> None:
        self._reading = False
        self._chan.pause_reading()

    def resume_reading(self) -> None:
        self._reading = True
        self._chan.resume_reading()

    def is_reading(self) -> bool:
        return self._reading


def ssh_tunnel_for(target: Target, connect_timeout: float) -> SshTunnel | None:
    """The SSH connections of an ssh:// target (opened on first use), else None."""
    if not target.url.startswith("ssh://"):
        return None
    return SshTunnel(target.url, target.ssh, connect_timeout)


__all__ = [
    "SSH_POOL_LIMIT",
    "FailingConnector",
    "InvalidTarget",
    "SshConnector",
    "SshTunnel",
    "TransportError",
    "connector_for",
    "describe_unreachable",
    "explain",
    "explain_tls_reset",
    "safe_url",
    "ssh_tunnel_for",
    "tls_context",
    "validate",
]
