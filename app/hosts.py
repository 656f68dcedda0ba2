"""Hosts: one object per engine, and the registry of them.

    HostConfig    what a host is (name, target, default, disabled, labels): plain data
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

Without a hosts file there is one host, `local`, from `DOCKER_HOST`: the install of
one engine behaves as before hosts existed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import Depends
from fastapi.requests import HTTPConnection

from app import errors
from app.engine import Engine, HostQuery
from app.models.system import HostState
from app.services.events import EventBus, cancel_and_wait
from app.services.health_journal import HealthJournal
from app.settings import Settings
from app.state import ContainerState
from app.streams import HubRegistry
from app.targets import Target, target_from_settings

log = logging.getLogger("moorage.hosts")

HostStateName = HostState
Source = Literal["env", "file", "api"]

LOCAL = "local"
# A probe reads the engine's info (swarm, container counts) at most this often (s).
INFO_EVERY = 15.0


@dataclass(frozen=True, slots=True)
class HostConfig:
    """A host as configured: where its engine is and how it is listed."""

    name: str
    target: Target
    default: bool = False
    disabled: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    source: Source = "env"  # env (DOCKER_HOST), file (MOORAGE_HOSTS_FILE) or api (database)


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
        self.engine = Engine(settings, config.name, config.target)
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
        self.swarm: Swarm | None = None
        self.info_containers: tuple[int, int] | None = None  # (running, total) from info
        self._prober: asyncio.Task[None] | None = None
        self._info_at = 0.0

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
            running = sum(1 for e in state.entries.values() if e.summary.get("State") == "running")
            return running, len(state.entries)
        return self.info_containers

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

    async def probe(self) -> bool:
        """Ask the engine its version and info, within `host_probe_timeout`; the host is
        up when it answers, down otherwise."""
        try:
            async with asyncio.timeout(self.settings.host_probe_timeout):
                version = await self.engine.json("GET", "version", versioned=False)
                await self.engine.negotiate()
                # `info` costs the engine more: on coming up, then now and then.
                info = None
                if self.state != "up" or time.time() - self._info_at > INFO_EVERY:
                    info = await self.engine.json("GET", "info")
        except TimeoutError:
            self._set_state(
                "down", f"The engine did not answer within {self.settings.host_probe_timeout:g} s"
            )
            return False
        except errors.ProblemError as exc:
            self._set_state("down", exc.detail or exc.title)
            return False
        self.last_seen = time.time()
        self.version = str(version.get("Version") or "") or None
        self.api_version = self.engine.api_version or version.get("ApiVersion")
        if info is not None:
            self._info_at = self.last_seen
            self.swarm = _swarm(info.get("Swarm") or {})
            self.info_containers = (
                int(info.get("ContainersRunning") or 0),
                int(info.get("Containers") or 0),
            )
        self._set_state("up")
        return True

    async def _probe_loop(self) -> None:
        """Probe every `host_probe_interval` s while up (at once when the event reader
        loses the engine); while down, again after 0.5 s, doubling up to
        `host_retry_max`."""
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
                await asyncio.sleep(retry)
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


class HostRegistry:
    """Every host by name; `default` is the one a request without `host` gets."""

    def __init__(self, settings: Settings, configs: list[HostConfig]) -> None:
        if not configs:
            raise ValueError("no hosts configured")
        defaults = [c.name for c in configs if c.default]
        if len(defaults) > 1:
            raise ValueError(f"more than one default host: {', '.join(defaults)}")
        self.settings = settings
        self._configs = configs
        self.hosts: dict[str, Host] = {}
        self._default_name = defaults[0] if defaults else configs[0].name
        self._subscribers: set[asyncio.Queue[HostChange]] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> HostRegistry:
        """The hosts of the settings: without a hosts file, `local` from DOCKER_HOST."""
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
        return self.hosts[self._default_name]

    def all(self) -> list[Host]:
        return list(self.hosts.values())

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        """Make every host and start following its engine (none is waited for)."""
        for config in self._configs:
            self.hosts[config.name] = Host(config, self.settings, self)
        for host in self.hosts.values():
            await host.open()

    async def close(self) -> None:
        for host in list(self.hosts.values()):
            try:
                await host.close()
            except Exception:  # one host's failure must not keep the others open
                log.exception("host %s: close failed", host.name)

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
