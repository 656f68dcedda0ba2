"""Hosts: one object per engine, and the registry of them.

    Host          one engine and everything moorage keeps per engine: the client
                  (its own connection pool), the event reader and its journal, the
                  health journal, the container state, the stream hubs, and the
                  host's own health (state, last error, last seen) kept by a prober
    HostRegistry  every host, by name (`app.state.hosts`), opened and closed in the
                  lifespan; tells subscribers when a host's state changes

A host's parts never reach another host's: a host that is down, slow or stalled
stalls only its own prober, reader and pool. Routes take the host through the
`host` query parameter (`HostDep`, and the dependencies of each part that resolve
through the same parameter: `EngineDep`, `ContainerStateDep`, `BusDep`, `HubsDep`,
`HealthJournalDep`); without it, the default host.

Hosts come from MOORAGE_HOSTS_FILE (app/host_config.py) and from moorage's database
(added through the API; every worker polls the database's count of host changes and
applies what another worker added, changed or removed); without a hosts file there is
one host, `local`, from `DOCKER_HOST`: the install of one engine behaves as before
hosts existed.

The circuit: a host whose prober found its engine unreachable (or stalled past
`host_probe_timeout`) is `down`, and its operations answer 503 `host-unavailable` at
once (`Host.check`), without a connect spent on it, until a probe finds it again (a
down host is probed after 0.5 s, doubling up to `host_retry_max`, at most 10 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

from fastapi import Depends
from fastapi.requests import HTTPConnection

from app import errors
from app.engine import Engine, HostQuery
from app.host_config import HostConfig, file_configs, to_config
from app.models.common import rfc3339
from app.models.hosts import HostSpec
from app.models.system import HostState
from app.services.events import EventBus, cancel_and_wait
from app.services.health_journal import HealthJournal
from app.settings import Settings
from app.state import ContainerState
from app.streams import HubRegistry
from app.targets import target_from_settings

log = logging.getLogger("moorage.hosts")

HostStateName = HostState

LOCAL = "local"
# A probe reads the engine's info (swarm, container counts) at most this often (s).
INFO_EVERY = 15.0


@dataclass(frozen=True, slots=True)
class Swarm:
    node_id: str
    role: Literal["manager", "worker"]
    cluster_id: str | None


@dataclass(frozen=True, slots=True)
class HostChange:
    """A host's state changed (what `HostRegistry.subscribe()` delivers)."""

    host: str
    state: HostStateName
    previous: HostStateName
    error: str | None
    time: float


class Host:
    """One engine and everything moorage keeps per engine (see the module docstring).

    Made inside the event loop (the client's connector needs one); `open()` starts
    the readers and the prober, `close()` stops them and closes the client."""

    def __init__(
        self, config: HostConfig, settings: Settings, registry: HostRegistry | None = None
    ) -> None:
        self.config = config
        self.name = config.name
        self.settings = settings
        self._registry = registry
        # The policy applies on every host: MOORAGE_POLICY_FILE, or the host's own.
        own = settings.model_copy(update={"policy_file": config.policy}) if config.policy else None
        self.engine = Engine(own or settings, config.name, config.target)
        self.events = EventBus(self.engine, journal_size=settings.events_journal_size)
        self.health = HealthJournal(self.engine, self.events, settings.health_journal_size)
        # None when the state cache is off: routes then always ask the engine.
        self.containers: ContainerState | None = (
            ContainerState(self.engine, self.events, resync_interval=settings.state_resync_interval)
            if settings.state_cache
            else None
        )
        self.hubs = HubRegistry()
        self.state: HostStateName = "disabled" if config.disabled else "connecting"
        self.error: str | None = None
        self.last_seen: float | None = None  # epoch s of the last answer from its engine
        self.since: float = time.time()  # when `state` last changed
        self.version: str | None = None
        self.api_version: str | None = None
        self.os: str | None = None
        self.arch: str | None = None
        self.swarm: Swarm | None = None
        self.info_containers: tuple[int, int] | None = None  # (running, total) from info
        self._prober: asyncio.Task[None] | None = None
        self._info_at = 0.0
        self._info_task: asyncio.Task[None] | None = None
        # The probe out now (monotonic start), and an event set when it ends: /readyz
        # reads the prober's verdict instead of asking the engine a second time.
        self._probe_out: float | None = None
        self._probed = asyncio.Event()

    @property
    def labels(self) -> Mapping[str, str]:
        return self.config.labels

    @property
    def default(self) -> bool:
        return self.config.default

    @property
    def disabled(self) -> bool:
        return self.config.disabled

    @property
    def containers_count(self) -> tuple[int, int] | None:
        """(running, total): from the container state when it follows the engine, else
        the last probe's count."""
        state = self.containers
        if state is not None and state.ready.is_set() and state.stale_since is None:
            return state.counts()
        return self.info_containers

    def check(self) -> None:
        """The circuit: 503 host-unavailable at once when the host is known down or is
        disabled (no engine asked)."""
        if self.state == "down":
            raise errors.HostUnavailable(
                f"Host {self.name!r} is down: {self.error or 'its engine does not answer'}"
                f" (since {rfc3339(self.since)}; retried in the background)",
                retry_after=self.settings.engine_retry_after,
            )
        if self.state == "disabled":
            raise errors.HostUnavailable(
                f"Host {self.name!r} is disabled (maintenance): moorage does not contact it",
                retry_after=self.settings.engine_retry_after,
            )

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Start following the engine (a disabled host is never contacted)."""
        if self.disabled:
            return
        # The health journal before the bus reads: it sees every change from the first.
        await self.health.start()
        await self.events.start()
        if self.containers is not None:
            await self.containers.start()
        self._prober = asyncio.create_task(self._probe_loop(), name=f"moorage-host-{self.name}")

    async def close(self) -> None:
        await cancel_and_wait(self._prober)
        await cancel_and_wait(self._info_task)
        self._prober = None
        if self.containers is not None:
            await self.containers.stop()
        await self.health.stop()
        await self.events.stop()
        await self.hubs.close()
        await self.engine.close()

    # -- health ------------------------------------------------------------------------

    def _set_state(self, state: HostStateName, error: str | None = None) -> None:
        self.error = error
        if state == self.state:
            return
        previous, self.state, self.since = self.state, state, time.time()
        if state == "down" or previous == "down":
            log.warning("host %s: %s -> %s %s", self.name, previous, state, error or "")
        if self._registry is not None:
            self._registry.notify(HostChange(self.name, state, previous, error, self.since))

    def answered(self, version: Mapping[str, Any]) -> None:
        """Its engine answered `GET /version` (the prober): up at once."""
        self.last_seen = time.time()
        self.version = str(version.get("Version") or "") or None
        self.api_version = self.engine.api_version or version.get("ApiVersion")
        self.os = version.get("Os")
        self.arch = version.get("Arch")
        if self.state != "disabled":
            self._set_state("up")

    async def ready(self, within: float) -> bool:
        """Whether the prober finds the engine answering (/readyz): its last verdict;
        while a probe is out (or none has ended yet), that probe's verdict if it comes
        within `within` s of its start. A probe out longer is a stalled engine: not
        ready, as a `GET /version` of /readyz's own would have timed out."""
        if self.disabled:
            return False
        out, done = self._probe_out, self._probed
        if out is not None or not done.is_set():
            left = (out if out is not None else time.monotonic()) + within - time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(left, 0.0)):
                    await done.wait()
            if not done.is_set():
                return False
        return self.state == "up"

    async def probe(self) -> bool:
        """Ask the engine its version within `host_probe_timeout`: up when it answers;
        down when it refuses, or stays silent while nothing else it was asked is
        answered either (a busy engine that answers other calls is slow, not down)."""
        # Waiters (/readyz) hold the event of the probe they wait for; the first probe
        # takes the one made in __init__, which readers before it already wait on.
        if self._probed.is_set():
            self._probed = asyncio.Event()
        done = self._probed
        self._probe_out = time.monotonic()
        try:
            return await self._probe()
        finally:
            self._probe_out = None
            done.set()

    async def _probe(self) -> bool:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.host_probe_timeout):
                version = await self.engine.json("GET", "version", versioned=False)
                await self.engine.negotiate()
        except TimeoutError:
            if self.engine.answered_at >= started and self.state == "up":
                return True  # busy: other calls were answered meanwhile
            self._set_state(
                "down", f"The engine did not answer within {self.settings.host_probe_timeout:g} s"
            )
            return False
        except errors.ProblemError as exc:
            self._set_state("down", exc.detail or exc.title)
            return False
        self.answered(version)
        # `info` (swarm, container counts) costs the engine more, and a slow answer of
        # it says nothing about the host being up: on coming up, then now and then,
        # outside the probe's time limit.
        if time.time() - self._info_at > INFO_EVERY and (
            self._info_task is None or self._info_task.done()
        ):
            self._info_at = time.time()
            self._info_task = asyncio.create_task(self._read_info())
        return True

    async def _read_info(self) -> None:
        """The engine's info (swarm, container counts), beside the probes: never holds
        them up, and a slow answer of it marks nothing down."""
        try:
            info = await self.engine.json("GET", "info")
        except errors.ProblemError as exc:
            log.debug("host %s: info: %s", self.name, exc.detail)
            return
        self.swarm = _swarm(info.get("Swarm") or {})
        self.info_containers = (
            int(info.get("ContainersRunning") or 0),
            int(info.get("Containers") or 0),
        )

    async def _probe_loop(self) -> None:
        """Probe every `host_probe_interval` s while up (at once when the event reader
        loses the engine); while down, again after 0.5 s, doubling up to
        `host_retry_max` (at once when the event reader reconnects)."""
        retry = 0.5
        while True:
            lost = self.events.watch_disconnect()
            try:
                up = await self.probe()
            except Exception as exc:  # never let the prober die
                log.exception("host %s: probe failed", self.name)
                self._set_state("down", f"{type(exc).__name__}: {exc}")
                up = False
            if up:
                retry = 0.5
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.host_probe_interval):
                        await lost.wait()
            else:
                # Again after `retry`, or as soon as the event reader has the engine back.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(retry):
                        if self.events.connected.is_set():
                            await asyncio.sleep(retry)  # (a stall: the reader sees nothing)
                        else:
                            await self.events.connected.wait()
                retry = min(retry * 2, self.settings.host_retry_max)


def _swarm(doc: Mapping[str, Any]) -> Swarm | None:
    if doc.get("LocalNodeState") != "active" or not doc.get("NodeID"):
        return None
    cluster = doc.get("Cluster") or {}
    return Swarm(
        node_id=str(doc["NodeID"]),
        role="manager" if doc.get("ControlAvailable") else "worker",
        cluster_id=cluster.get("ID"),
    )


class HostStore(Protocol):
    """Where hosts added through the API are kept (the audit database, app/audit.py)."""

    async def hosts_load(self) -> list[dict[str, Any]]: ...
    async def host_put(self, name: str, spec: dict[str, Any]) -> None: ...
    async def host_delete(self, name: str) -> None: ...
    async def hosts_revision(self) -> int: ...


class HostRegistry:
    """Every host by name; `default` is the one a request without `host` gets (the one
    marked `default`, else the first)."""

    def __init__(self, settings: Settings, configs: list[HostConfig]) -> None:
        if not configs:
            raise ValueError("no hosts configured")
        self.settings = settings
        self._configs = configs
        self.hosts: dict[str, Host] = {}
        self._specs: dict[str, HostSpec] = {}  # the hosts added through the API
        self._store: HostStore | None = None
        self._changing = asyncio.Lock()
        self._subscribers: set[asyncio.Queue[HostChange]] = set()
        # The store's count of host changes last applied here (-1: none read yet), and
        # the task that follows it: other workers (or replicas) change hosts too.
        self._revision = -1
        self._sync: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> HostRegistry:
        """The hosts of the settings: those of the hosts file, else `local` from
        DOCKER_HOST."""
        if settings.hosts_file is not None:
            return cls(settings, file_configs(settings.hosts_file))
        local = HostConfig(LOCAL, target_from_settings(settings), default=True, source="env")
        return cls(settings, [local])

    # -- lookup (no engine call) ---------------------------------------------------------

    def get(self, name: str | None) -> Host:
        """The named host (None: the default); 404 host-not-found."""
        if name is None:
            return self.default
        host = self.hosts.get(name)
        if host is None:
            raise errors.HostNotFound(f"No host named {name!r} (GET /v1/hosts lists them)")
        return host

    @property
    def default(self) -> Host:
        return self._default

    def _pick_default(self) -> None:
        # Asked on every request without `host`: found once per change of the hosts.
        self._default = self._marked_default() or next(iter(self.hosts.values()))

    def _marked_default(self) -> Host | None:
        return next((h for h in self.hosts.values() if h.default), None)

    def all(self) -> list[Host]:
        return list(self.hosts.values())

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self, store: HostStore | None = None) -> None:
        """Make every host (the configured ones, then those kept in `store`) and start
        following its engine (none is waited for), and the store's changes."""
        self._store = store
        for config in self._configs:
            self.hosts[config.name] = Host(config, self.settings, self)
        self._pick_default()
        for host in list(self.hosts.values()):
            await host.open()
        if store is not None:
            async with self._changing:
                await self._refresh()
            self._sync = asyncio.create_task(self._follow(), name="moorage-hosts-sync")

    async def close(self) -> None:
        await cancel_and_wait(self._sync)
        self._sync = None
        for host in list(self.hosts.values()):
            try:
                await host.close()
            except Exception:  # one host's failure must not keep the others open
                log.exception("host %s: close failed", host.name)

    # -- the store's hosts, as other workers change them ---------------------------------

    async def _follow(self) -> None:
        """Every `hosts_sync_interval` s, one row's read: the store's revision; when it
        moved, the hosts another worker added, changed or removed are applied here."""
        while True:
            await asyncio.sleep(self.settings.hosts_sync_interval)
            try:
                async with self._changing:
                    await self._refresh()
            except Exception:  # a busy or lost database: try again next time
                log.exception("hosts: reading the stored hosts failed")

    def _stored(self, docs: list[dict[str, Any]]) -> dict[str, HostSpec]:
        """The store's hosts that may be served: readable, not named as a configured
        host, `default` dropped when the hosts file marks one."""
        configured = {c.name for c in self._configs}
        file_default = any(c.default for c in self._configs)
        specs: dict[str, HostSpec] = {}
        for doc in docs:
            try:
                spec = HostSpec.model_validate(doc)
            except ValueError as exc:
                log.error("a stored host cannot be read, left out: %s", exc)
                continue
            if spec.name in configured:
                log.warning("stored host %s: the hosts file has one: left out", spec.name)
                continue
            if spec.default and file_default:
                spec = spec.model_copy(update={"default": False})
            specs[spec.name] = spec
        return specs

    async def _refresh(self) -> None:
        """Apply the store's hosts when its revision moved (hold `_changing`)."""
        store = self._store
        if store is None:
            return
        revision = await store.hosts_revision()
        if revision == self._revision:
            return
        wanted = self._stored(await store.hosts_load())
        self._revision = revision
        gone = [n for n in self._specs if n not in wanted]
        changed = [
            n
            for n, spec in wanted.items()
            if n not in self._specs
            or spec.model_dump(mode="json") != self._specs[n].model_dump(mode="json")
        ]
        if not gone and not changed:
            return
        old = [self.hosts.pop(n) for n in gone]
        for name in gone:
            del self._specs[name]
        new: list[Host] = []
        for name in changed:
            spec = wanted[name]
            if name in self.hosts:
                old.append(self.hosts[name])
            host = Host(to_config(spec, "api"), self.settings, self)
            self.hosts[name], self._specs[name] = host, spec
            new.append(host)
        self._pick_default()
        for host in new:
            await host.open()
        for host in old:
            try:
                await host.close()
            except Exception:
                log.exception("host %s: close failed", host.name)

    # -- changes through the API (kept in the store) ------------------------------------

    def _changeable(self, name: str) -> HostSpec:
        host = self.get(name)
        spec = self._specs.get(name)
        if spec is None:
            where = "the hosts file" if host.config.source == "file" else "DOCKER_HOST"
            raise errors.Conflict(f"Host {name!r} comes from {where}: change it there")
        return spec

    def _check_default(self, spec: HostSpec) -> None:
        marked = self._marked_default()
        if spec.default and marked is not None and marked.name != spec.name:
            raise errors.Conflict(
                f"{marked.name!r} is the default host; only one host is the default"
            )

    async def add(self, spec: HostSpec) -> Host:
        """A new host, kept in the store; its engine is not waited for."""
        async with self._changing:
            await self._refresh()  # another worker's host of that name, if any
            if spec.name in self.hosts:
                raise errors.NameInUse(f"There is a host named {spec.name!r} already")
            self._check_default(spec)
            await self._keep(spec)
            host = Host(to_config(spec, "api"), self.settings, self)
            self.hosts[spec.name] = host
            self._specs[spec.name] = spec
            self._pick_default()
            await host.open()
            return host

    async def change(self, name: str, spec: HostSpec) -> Host:
        """Replace an API host's settings: its engine client and readers start afresh."""
        async with self._changing:
            await self._refresh()
            self._changeable(name)
            self._check_default(spec)
            await self._keep(spec)
            old = self.hosts[name]
            host = Host(to_config(spec, "api"), self.settings, self)
            self.hosts[name] = host
            self._specs[name] = spec
            self._pick_default()
            await host.open()
        await old.close()
        return host

    async def remove(self, name: str) -> None:
        async with self._changing:
            await self._refresh()
            self._changeable(name)
            if len(self.hosts) == 1:
                raise errors.Conflict("The last host cannot be removed")
            if self._store is not None:
                await self._store.host_delete(name)
            host = self.hosts.pop(name)
            del self._specs[name]
            self._pick_default()
        await host.close()

    def spec(self, name: str) -> HostSpec:
        """An API host's spec (409 for a configured host)."""
        return self._changeable(name)

    async def _keep(self, spec: HostSpec) -> None:
        if self._store is None:
            raise errors.Conflict("moorage has no database to keep hosts in")
        await self._store.host_put(spec.name, spec.model_dump(mode="json"))

    # -- state changes -------------------------------------------------------------------

    @contextlib.contextmanager
    def subscribe(self, maxsize: int = 1000) -> Iterator[asyncio.Queue[HostChange]]:
        """A queue of every host state change from now on (a full queue drops the
        newest: a subscriber that does not read loses changes, never stalls a host)."""
        queue: asyncio.Queue[HostChange] = asyncio.Queue(maxsize)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def notify(self, change: HostChange) -> None:
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(change)


async def get_host(request: HTTPConnection, host: HostQuery = None) -> Host:
    """The host this request names (`?host=`), else the default host."""
    registry: HostRegistry = request.app.state.hosts
    return registry.get(host)


HostDep = Annotated[Host, Depends(get_host)]
