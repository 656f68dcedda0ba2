"""The engine: the one module that imports aiodocker.

`Engine` owns one shared aiodocker client (opened in the lifespan), negotiates the
API version lazily (so the service starts while the engine is away), and turns
every aiodocker / aiohttp failure into a `ProblemError`:

    DockerError(900)          → 503 engine-unavailable (aiodocker's made-up status)
    DockerError(4xx)          → the matching problem (404 by what is missing, 409 by why)
    "… is ambiguous" (4xx/500) → 409 ambiguous-id (a short id that matches several)
    DockerError(500) of input → 400 bad-request (a value the engine could not parse)
    DockerError(5xx)          → 502 engine-error
    DockerStreamError         → 502 engine-error (a failure inside a progress stream)
    asyncio.TimeoutError      → 504 timeout
    aiohttp.ClientError       → 503 engine-unavailable
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Annotated, Any, Literal, TypeVar

import aiodocker
import aiohttp
import orjson
from aiodocker.stream import Stream
from fastapi import Depends, Query
from fastapi.requests import HTTPConnection
from yarl import URL

from app import errors, transports
from app.settings import Settings
from app.targets import HOST_NAME_PATTERN, Target, target_from_settings

log = logging.getLogger("moorage.engine")

# The policy hook: refuses (raises), or returns None, or the body to send instead.
Guard = Callable[[str, str, Mapping[str, Any] | None, Any], Awaitable[Any]]

T = TypeVar("T")

Kind = Literal[
    "container", "image", "volume", "network", "exec", "node", "service", "task", "secret", "config"
]

# Newest API version whose response shapes moorage reads; older engines are used at
# their own version. (1.52 dropped fields moorage does not rely on, but pin anyway.)
MAX_API_VERSION = (1, 47)

_NOT_FOUND_BY_KIND: dict[str, type[errors.NotFound]] = {
    "container": errors.ContainerNotFound,
    "image": errors.ImageNotFound,
    "volume": errors.VolumeNotFound,
    "network": errors.NetworkNotFound,
    "exec": errors.ExecNotFound,
    "service": errors.ServiceNotFound,
    "task": errors.TaskNotFound,
    "node": errors.NodeNotFound,
    "secret": errors.SecretNotFound,
    "config": errors.ConfigNotFound,
}
_NOT_FOUND_BY_MESSAGE: list[tuple[re.Pattern[str], type[errors.NotFound]]] = [
    (re.compile(r"no such container", re.I), errors.ContainerNotFound),
    (
        re.compile(r"no such image|pull access denied|repository does not exist", re.I),
        errors.ImageNotFound,
    ),
    (re.compile(r"no such exec", re.I), errors.ExecNotFound),
    (re.compile(r"no such volume|volume .* not found", re.I), errors.VolumeNotFound),
    (re.compile(r"network .* not found|no such network", re.I), errors.NetworkNotFound),
    # Swarm objects: "service web not found" (and task, node, secret, config).
    (re.compile(r"^service .* not found", re.I), errors.ServiceNotFound),
    (re.compile(r"^task .* not found", re.I), errors.TaskNotFound),
    (re.compile(r"^node .* not found", re.I), errors.NodeNotFound),
    (re.compile(r"^secret .* not found", re.I), errors.SecretNotFound),
    (re.compile(r"^config .* not found", re.I), errors.ConfigNotFound),
]
_CONFLICT_BY_MESSAGE: list[tuple[re.Pattern[str], type[errors.Conflict]]] = [
    (re.compile(r"is already in use|already exists", re.I), errors.NameInUse),
    (re.compile(r"is not running|not running", re.I), errors.ContainerNotRunning),
    (
        re.compile(r"cannot (remove|kill) a running container|stop the container before", re.I),
        errors.ContainerRunning,
    ),
    (re.compile(r"in use|being used|active endpoints|has dependent", re.I), errors.InUse),
]

# Races the engine reports as 500 although they are conflicts with its state (two
# callers stopping, restarting or removing one container at once). Narrow on purpose:
# a real engine failure stays a 502.
_STATE_RACES_500: list[tuple[re.Pattern[str], type[errors.ProblemError]]] = [
    (re.compile(r"no such container", re.I), errors.ContainerNotFound),
    (re.compile(r"container \S+ is not running", re.I), errors.ContainerNotRunning),
    (
        re.compile(
            r"removal of container \S+ is already in progress|marked for removal"
            r"|container \S+ is (restarting|paused|dead)|is already (stopping|starting)",
            re.I,
        ),
        errors.Conflict,
    ),
    # A network whose gateway address the engine's IPAM still holds (another network).
    (re.compile(r"failed to allocate gateway .*address already in use", re.I), errors.Conflict),
]

# Input errors the engine (20.10) answers with 500: the request was bad, not the engine.
# (The models check most of these first; this is the net for what they cannot know.)
_BAD_INPUT_500 = re.compile(
    r"invalid reference format|repository name must|invalid tag format|invalid filter"
    r"|syntax error in pattern"
    r"|failed to parse value as time or duration"  # prune `until`
    r"|invalid subnet|invalid gateway|invalid cidr"  # network IPAM
    r"|non parsable secondary ip|invalid pool request|requested address is out of range"
    r"|strconv\.parse\w*: parsing"  # a number the engine could not read
    r"|invalid join token",
    re.I,
)
# A driver (volume, network, log, IPAM) that is not installed: the caller named it.
_NO_PLUGIN = re.compile(r"plugin \S+ not found|error looking up \w+ plugin", re.I)
# A secret or config a service uses (the engine: 400 InvalidArgument).
_SWARM_IN_USE = re.compile(r"is in use by the following service", re.I)
_NOT_A_MANAGER = re.compile(r"not a swarm manager", re.I)
_JOIN_TIMEOUT = re.compile(r"timeout was reached before node joined", re.I)
_SWARM_STATE = re.compile(
    r"already part of a swarm|not part of a swarm|attempting to leave the swarm", re.I
)
# A short id matching several objects (containers: 500; networks: 400).
_AMBIGUOUS = re.compile(r"multiple IDs found with provided prefix|is ambiguous", re.I)


def translate_docker_error(
    exc: BaseException, kind: Kind | None = None, ref: str | None = None
) -> errors.ProblemError:
    """Map an engine failure to the problem a client should see."""
    if isinstance(exc, errors.ProblemError):
        return exc
    if isinstance(exc, TimeoutError):
        return errors.Timeout("The engine did not answer in time")
    if isinstance(exc, aiodocker.DockerError):
        status, message = exc.status, str(exc.message).strip()
        if status == 900:
            return errors.EngineUnavailable(transports.describe_unreachable(message))
        if status == 400 and "HTTP request to an HTTPS server" in message:
            # Not the caller's request: the host is configured without its TLS files.
            return errors.EngineUnavailable(
                f"Cannot reach the Docker engine: {transports.explain(message)}"
            )
        if status == 503 and _NOT_A_MANAGER.search(message):
            # The engine's 503 for a Swarm call on a worker or outside a swarm: the
            # engine is up, this host is the wrong one.
            return errors.NotASwarmManager(message)
        if status == 503 and _SWARM_STATE.search(message):
            return errors.Conflict(message)  # init/join/leave against the node's state
        if status == 503 and _JOIN_TIMEOUT.search(message):
            # The join goes on in the background: its outcome is not known yet.
            return errors.Timeout(message)
        if status in (400, 404, 409, 500) and _AMBIGUOUS.search(message):
            return errors.AmbiguousId(message)
        if status == 0:  # DockerStreamError: failure reported inside a 200 stream
            if _BAD_INPUT_500.search(message):
                return errors.BadRequest(message)
            return errors.EngineError(message)
        if status == 404:
            if _NO_PLUGIN.search(message):
                return errors.BadRequest(f"No such driver: {message}")
            if re.search(r"address pool", message, re.I):
                # No free subnet for a new network: the engine's state, not a missing thing.
                return errors.Conflict(message)
            for pattern, cls in _NOT_FOUND_BY_MESSAGE:
                if pattern.search(message):
                    return cls(message)
            return _NOT_FOUND_BY_KIND.get(kind or "", errors.NotFound)(
                message or f"No {kind or 'object'} {ref!r}"
            )
        if status in (409, 403):
            # The engine's 403s (predefined network, read-only path) are conflicts with
            # its state, not about the caller's rights.
            for pattern, conflict in _CONFLICT_BY_MESSAGE:
                if pattern.search(message):
                    return conflict(message)
            return errors.Conflict(message)
        if status == 400:
            if _SWARM_IN_USE.search(message):
                return errors.InUse(message)
            return errors.BadRequest(message)
        if status == 401:
            return errors.RegistryDenied(message)
        if 400 <= status < 500:
            return errors.BadRequest(message)
        if status == 500:
            if _BAD_INPUT_500.search(message):
                return errors.BadRequest(message)
            for pattern, race in _STATE_RACES_500:
                if pattern.search(message):
                    return race(message)
        return errors.EngineError(message or f"The engine answered {status}")
    if isinstance(exc, aiohttp.InvalidURL):
        # A reference that makes the engine redirect (`..`, `//` in a path): bad input.
        return errors.BadRequest(f"The engine cannot address that reference: {exc}")
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return errors.EngineError(f"The engine closed the connection: {exc}")
    if isinstance(exc, aiohttp.ClientError | ConnectionError):
        return errors.EngineUnavailable(
            f"Cannot reach the Docker engine: {transports.explain(str(exc))}"
        )
    return errors.EngineError(f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def engine_errors(kind: Kind | None = None, ref: str | None = None) -> Any:
    """Translate engine failures raised inside the block."""
    try:
        yield
    except errors.ProblemError:
        raise
    except (aiodocker.DockerError, aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
        raise translate_docker_error(exc, kind, ref) from exc


class Engine:
    """One Docker engine, reached through one pooled aiodocker client."""

    def __init__(
        self, settings: Settings, name: str = "default", target: Target | None = None
    ) -> None:
        self.settings = settings
        self.name = name
        self.target = target or target_from_settings(settings)
        self.url = self.target.url
        # The url as it may be shown (logs, errors, a host's `url`): no password.
        self.display_url = transports.safe_url(self.url)
        self.short_timeout = aiohttp.ClientTimeout(
            total=None,
            connect=settings.engine_connect_timeout,
            sock_connect=settings.engine_connect_timeout,
            sock_read=settings.engine_timeout,
        )
        # Long calls (logs, stats, events, wait, pull, build, archive) read with no
        # read timeout; connecting still times out.
        self.long_timeout = aiohttp.ClientTimeout(
            total=None,
            connect=settings.engine_connect_timeout,
            sock_connect=settings.engine_connect_timeout,
        )
        # Liveness probes (ping, the version lookup): the whole call within the connect
        # timeout, since a stopped engine accepts connections and then says nothing.
        self.probe_timeout = aiohttp.ClientTimeout(
            total=settings.engine_connect_timeout,
            connect=settings.engine_connect_timeout,
            sock_connect=settings.engine_connect_timeout,
        )
        # ssh:// only: the SSH connections every client of this engine dials through.
        self._ssh = transports.ssh_tunnel_for(self.target, settings.engine_connect_timeout)
        self.docker = self._client()
        self._hijacks: aiodocker.Docker | None = None  # terminals' connections (hijack)
        # The policy hook: awaited with (method, path, params, data) before any
        # non-GET request (and a GET that fetches from a registry) leaves for the
        # engine, whoever makes it (see app/policy.py).
        self.guard: Guard | None = None
        self._install_guard()
        self._version_lock = asyncio.Lock()
        self.api_version: str | None = None
        self._in_flight: dict[str, asyncio.Future[Any]] = {}
        # Catch-up reads of stream subscribers (log history before joining a hub): a
        # burst of subscribers must not open an engine connection each.
        self.catch_up_slots = asyncio.Semaphore(settings.stream_catch_up_reads)
        self._http10: aiohttp.ClientSession | None = None
        # When the engine last answered a call (monotonic s): a probe that times out
        # while other calls are answered met a busy engine, not a stalled one.
        self.answered_at = 0.0

    def _client(self, limit: int | None = None) -> aiodocker.Docker:
        """An aiodocker client over this engine's transport (app/transports.py)."""
        if limit is None:
            limit = self.settings.engine_pool_size
            if self._ssh is not None:
                limit = min(limit, transports.SSH_POOL_LIMIT)
        try:
            base, connector = transports.connector_for(self.target, limit=limit, tunnel=self._ssh)
        except transports.InvalidTarget as exc:
            # A host whose files are missing is a host that is down, with the reason.
            base, connector = "unix://localhost", transports.FailingConnector(str(exc))
        docker = aiodocker.Docker(url=base, connector=connector, timeout=self.short_timeout)
        # What aiodocker's connection errors name: the engine, not "unix://localhost".
        docker._connection_info = self.display_url
        return docker

    def _install_guard(self) -> None:
        # The one place the engine reaches up to the policy (lazily: the policy module
        # imports this one); the terminals' client reuses what is taken here.
        from app.policy import engine_guard, guards_read, load_policy

        policy = load_policy(self.settings.policy_file)
        if policy is not None:
            self.guard = engine_guard(policy, self)
        self._guards_read: Callable[[str], bool] = guards_read
        self._guard_client(self.docker)

    def _guard_client(self, docker: aiodocker.Docker) -> None:
        guards_read = self._guards_read
        # Every aiodocker call (ours and its high-level helpers) passes _do_query.
        inner = docker._do_query

        async def do_query(path: Any, method: str, **kwargs: Any) -> aiohttp.ClientResponse:
            # A GET goes to the guard too when it makes the engine fetch (a registry
            # lookup): the policy's registries apply to those.
            if self.guard is not None and (
                method.upper() not in ("GET", "HEAD") or guards_read(str(path))
            ):
                replaced = await self.guard(
                    method.upper(), str(path), kwargs.get("params"), kwargs.get("data")
                )
                if replaced is not None:
                    kwargs["data"] = replaced
            response: aiohttp.ClientResponse = await inner(path, method, **kwargs)
            return response

        docker._do_query = do_query  # type: ignore[method-assign]

    async def shared(self, key: str, call: Callable[[], Awaitable[T]]) -> T:
        """One engine call for every concurrent caller asking the same thing.

        For calls the engine refuses to run twice at once (`system/df`: "a disk usage
        operation is already running"). A caller going away does not cancel the call
        for the others.
        """
        future = self._in_flight.get(key)
        if future is None:
            future = asyncio.ensure_future(call())
            self._in_flight[key] = future

            def done(f: asyncio.Future[Any]) -> None:
                self._in_flight.pop(key, None)
                if not f.cancelled():
                    f.exception()  # retrieved, even when every caller went away

            future.add_done_callback(done)
        result: T = await asyncio.shield(future)
        return result

    async def close(self) -> None:
        if self._http10 is not None:
            await self._http10.close()
        for docker in (self.docker, self._hijacks):
            if docker is not None:
                await docker.close()
                # aiodocker leaves a caller-supplied connector open.
                await docker.connector.close()
        if self._ssh is not None:
            await self._ssh.close()

    def _unavailable(self, exc: errors.EngineUnavailable) -> None:
        """The configured Retry-After, not the class default; and a TLS engine's reset
        named for what it is: OpenSSL reports a refused client certificate either as
        the engine's alert or, when the engine's close wins the race, as a bare reset."""
        exc.headers["Retry-After"] = str(self.settings.engine_retry_after)
        if self.target.tls is not None and "Connection reset by peer" in exc.detail:
            exc.detail = transports.explain_tls_reset(exc.detail)

    @contextlib.contextmanager
    def _probing(self) -> Iterator[None]:
        """A probe that timed out: the engine is there but silent (SIGSTOPped, hung)."""
        try:
            yield
        except errors.Timeout as exc:
            raise errors.EngineUnavailable(
                f"The engine at {self.display_url} did not answer within "
                f"{self.settings.engine_connect_timeout:g} s (stopped or hung)",
                retry_after=self.settings.engine_retry_after,
            ) from exc

    async def negotiate(self) -> str:
        """Pin the API version: the engine's own, capped at what moorage reads."""
        if self.api_version is not None:
            return self.api_version
        async with self._version_lock:
            if self.api_version is None:
                try:
                    with self._probing(), engine_errors():
                        ver = await self.docker._query_json(
                            "version", versioned_api=False, timeout=self.probe_timeout
                        )
                except errors.EngineUnavailable as exc:
                    self._unavailable(exc)
                    raise
                major, minor = (int(p) for p in str(ver["ApiVersion"]).split(".")[:2])
                chosen = min((major, minor), MAX_API_VERSION)
                self.api_version = f"{chosen[0]}.{chosen[1]}"
                self.docker.api_version = f"v{self.api_version}"
        return self.api_version

    @contextlib.asynccontextmanager
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        long: bool = False,
        kind: Kind | None = None,
        ref: str | None = None,
        versioned: bool = True,
        unchunked: bool = False,
        probe: bool = False,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """An engine call whose response body the caller reads (or streams).

        `unchunked`: ask for a body without HTTP chunks (HTTP/1.0; plain GETs on unix
        any transport): much cheaper to read for log streams."""
        try:
            if versioned:
                await self.negotiate()
            if json is not None:
                import orjson

                data = orjson.dumps(json)
                headers = {"Content-Type": "application/json", **(headers or {})}
            timeout = self.long_timeout if long else self.short_timeout
            if probe:
                timeout = self.probe_timeout
            with engine_errors(kind, ref):
                plain = method == "GET" and data is None and headers is None
                if unchunked and plain:
                    query = self._query_http10(
                        method, path, _clean_params(params), timeout, versioned
                    )
                else:
                    query = self.docker._query(
                        path,
                        method,
                        params=_clean_params(params),
                        data=data,
                        headers=headers,
                        timeout=timeout,
                        versioned_api=versioned,
                    )
                async with query as response:
                    self.answered_at = time.monotonic()
                    try:
                        yield response
                    finally:
                        response.release()
        except errors.EngineUnavailable as exc:
            self._unavailable(exc)
            raise

    @contextlib.asynccontextmanager
    async def _query_http10(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        limits: aiohttp.ClientTimeout,
        versioned: bool,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The call made as HTTP/1.0 (on the same connection pool): the engine then
        sends the body as it is until it closes the connection, instead of one HTTP
        chunk per write (a log follow writes one per line, and each costs aiohttp
        several Python calls)."""
        if self._http10 is None:
            self._http10 = aiohttp.ClientSession(
                connector=self.docker.connector,
                connector_owner=False,
                version=aiohttp.HttpVersion10,
            )
        import orjson

        url = self.docker._canonicalize_url(path, versioned_api=versioned)
        async with self._http10.request(method, url, params=params, timeout=limits) as response:
            if response.status >= 400:
                body = await response.read()
                try:
                    message = str(orjson.loads(body)["message"])
                except (ValueError, KeyError, TypeError):
                    message = body.decode("utf-8", "replace")
                raise aiodocker.DockerError(response.status, message)
            yield response

    async def json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        long: bool = False,
        kind: Kind | None = None,
        ref: str | None = None,
        versioned: bool = True,
    ) -> Any:
        """An engine call answering JSON (or nothing: returns None)."""
        import orjson

        async with self.request(
            method,
            path,
            params=params,
            json=json,
            headers=headers,
            long=long,
            kind=kind,
            ref=ref,
            versioned=versioned,
        ) as response:
            with engine_errors(kind, ref):
                body = await response.read()
        if not body.strip():
            return None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise errors.EngineError(
                f"The engine answered something that is not JSON: {exc}"
            ) from exc

    async def chunks(
        self, path: str, *, kind: Kind | None = None, ref: str | None = None
    ) -> AsyncIterator[bytes]:
        """A long GET's body (an export, a save), chunk by chunk: never all in memory."""
        async with self.request("GET", path, long=True, kind=kind, ref=ref) as response:
            async for chunk in response.content.iter_chunked(1 << 16):
                yield chunk

    async def ping(self) -> bool:
        """Whether the engine answers, within the connect timeout (a probe)."""
        with self._probing():
            async with self.request("GET", "_ping", versioned=False, probe=True) as response:
                return response.status == 200

    async def hijack(
        self,
        path: str,
        *,
        tty: bool,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        kind: Kind | None = None,
        ref: str | None = None,
    ) -> Hijacked:
        """A hijacked engine connection (exec start, attach): bytes both ways.

        Passes aiodocker's `_do_query`, so the policy guard sees it like any call."""
        await self.negotiate()
        url = URL(path).with_query(_clean_params(params) or {})
        body = orjson.dumps(json) if json is not None else None

        async def setup() -> tuple[URL, bytes | None, bool]:
            return url, body, tty

        if self._hijacks is None:
            # Their own connections: a hijacked connection is held for the terminal's
            # life, and a hundred terminals must not take the pool every call needs
            # (their number is bounded by MOORAGE_TERMINAL_MAX_TOTAL instead).
            self._hijacks = self._client(limit=0)
            self._hijacks.api_version = self.docker.api_version
            self._guard_client(self._hijacks)
        stream = Stream(self._hijacks, setup, self.long_timeout)
        with engine_errors(kind, ref):
            await stream._init()
        return Hijacked(stream, tty=tty)


class Hijacked:
    """One upgraded engine connection: output messages out, stdin in.

    aiodocker's reader queue pauses the socket past 64 KiB unread, so output the
    caller does not read waits in the engine, not here.

    Reads and writes skip aiodocker's per-call wrappers (a keystroke is one of each):
    a write goes straight to the transport and waits only while the transport is
    paused (its buffer full); errors are mapped only when one happens."""

    def __init__(self, stream: Stream, *, tty: bool) -> None:
        self._stream = stream
        resp = stream._resp
        assert resp is not None  # set up by _init()
        assert resp.connection is not None
        self._transport = resp.connection.transport
        self._protocol = resp.connection.protocol
        self._queue = stream._queue
        self._tty = tty

    async def read(self) -> tuple[int, bytes] | None:
        """(1 stdout | 2 stderr, bytes), or None at the end of the output."""
        assert self._queue is not None
        try:
            msg = await self._queue.read()
        except aiohttp.EofStream:
            return None
        except (aiodocker.DockerError, aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            raise translate_docker_error(exc, "exec", None) from exc
        return msg.stream, msg.data

    async def write(self, data: bytes) -> None:
        transport, protocol = self._transport, self._protocol
        if self._stream._closed or transport is None or transport.is_closing():
            raise RuntimeError("Cannot write to closed transport")
        transport.write(data)
        if protocol is not None and protocol.writing_paused:
            with engine_errors("exec"):
                await protocol._drain_helper()

    def write_now(self, data: bytes) -> bool:
        """Write without waiting; False when the transport is past its high-water mark
        afterwards (then `drained()` waits until it is under it again)."""
        transport, protocol = self._transport, self._protocol
        if self._stream._closed or transport is None or transport.is_closing():
            raise RuntimeError("Cannot write to closed transport")
        transport.write(data)
        return protocol is None or not protocol.writing_paused

    async def drained(self) -> None:
        protocol = self._protocol
        if protocol is not None and protocol.writing_paused:
            with engine_errors("exec"):
                await protocol._drain_helper()

    async def direct(
        self,
        on_data: Callable[[int, bytes], None],
        on_end: Callable[[BaseException | None], None],
    ) -> None:
        """From now on every output message goes to `on_data(channel, bytes)` as it
        is read (no queue, no task wake-up), and the end of the output (or the error
        that ended it) to `on_end` once. What was read before comes first. `read()`
        is not to be used any more; `pause_reading()` is the caller's flow control."""
        assert self._queue is not None
        assert self._protocol is not None
        early: list[tuple[int, bytes]] = []
        while len(self._queue):  # no suspension: each read finds its message
            msg = await self._queue.read()
            early.append((msg.stream, msg.data))
        parser = _DirectParser(on_data, on_end, tty=self._tty)
        # What aiohttp's data_received feeds from now on; the queue stays its payload
        # (aiohttp still tells it of a lost connection, unread).
        self._protocol._payload_parser = parser  # type: ignore[assignment]
        for channel, data in early:
            on_data(channel, data)
        if self._queue.is_eof() or self._protocol.transport is None:
            parser.feed_eof()
        elif (exc := self._queue.exception()) is not None:
            parser.set_exception(exc)
        self._protocol.resume_reading()  # the queue may have paused it

    def pause_reading(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.pause_reading()

    def resume_reading(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.resume_reading()

    def write_eof(self) -> None:
        """Close stdin, keep reading: what `cat > file` needs to finish."""
        resp = self._stream._resp
        transport = resp.connection.transport if resp and resp.connection else None
        if transport is not None and transport.can_write_eof():
            transport.write_eof()

    def close(self) -> None:
        """Drop the connection without closing stdin first (an attached container's
        main process may end on stdin EOF)."""
        self._stream._closed = True
        if self._stream._resp is not None:
            self._stream._resp.close()


class _DirectParser:
    """The hijacked connection's payload parser once `Hijacked.direct()` ran: aiohttp
    calls `feed_data` from the protocol's `data_received` and `feed_eof` from its
    `connection_lost`. Without a TTY the engine frames each message with an 8-byte
    header (stream, 3 zero bytes, big-endian length)."""

    def __init__(
        self,
        on_data: Callable[[int, bytes], None],
        on_end: Callable[[BaseException | None], None],
        *,
        tty: bool,
    ) -> None:
        self._on_data, self._on_end, self._tty = on_data, on_end, tty
        self._buf = b""
        self._ended = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._ended:
            return False, b""
        if self._tty:
            self._on_data(1, data)
            return False, b""
        buf = self._buf + data if self._buf else data
        pos, size = 0, len(buf)
        while size - pos >= 8:
            end = pos + 8 + int.from_bytes(buf[pos + 4 : pos + 8], "big")
            if end > size:
                break
            channel = buf[pos]
            self._on_data(channel, buf[pos + 8 : end])
            pos = end
        self._buf = buf[pos:]
        return False, b""

    def feed_eof(self) -> None:
        if not self._ended:
            self._ended = True
            self._on_end(None)

    def set_exception(self, exc: BaseException, cause: BaseException | None = None) -> None:
        if not self._ended:
            self._ended = True
            self._on_end(exc)


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Drop None values; render booleans the engine's way."""
    if params is None:
        return None
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "1" if value else "0"
        elif isinstance(value, dict | list):
            import orjson

            out[key] = orjson.dumps(value).decode()
        else:
            out[key] = value
    return out


# The `host` query parameter of every engine operation. The dependencies of a host's
# parts (this one, the container state, the bus, the hubs, the health journal) each
# take it and look the host up in `app.state.hosts` (app/hosts.py `HostRegistry`): the
# same parameter in each, so an operation has one `host` and all its parts come from
# the one host it names. (They cannot take `HostDep` itself: app/hosts.py builds on
# this module.)
HostQuery = Annotated[
    str | None,
    Query(
        pattern=HOST_NAME_PATTERN,
        description="The host (engine) to act on (GET /v1/hosts); default: the default host",
    ),
]


def host_engine(conn: HTTPConnection, host: str | None) -> Engine:
    """The engine of the named host (None: the default); 404 host-not-found, 503
    host-unavailable at once when the host is known down (app/hosts.py `Host.check`)."""
    found = conn.app.state.hosts.get(host)
    found.check()
    engine: Engine = found.engine
    return engine


async def get_engine(request: HTTPConnection, host: HostQuery = None) -> Engine:
    """The engine this request talks to: its host's."""
    return host_engine(request, host)


EngineDep = Annotated[Engine, Depends(get_engine)]
