"""System routes: liveness, readiness, ping, version, info, disk usage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from app import errors
from app.engine import EngineDep
from app.hosts import HostRegistry
from app.models.images import LoginRequest, LoginResult
from app.models.system import (
    DiskUsage,
    EngineSummary,
    EngineVersion,
    Health,
    Info,
    Ping,
    Ready,
    disk_usage,
)
from app.services import registry_ops

probes = APIRouter(tags=["system"])
router = APIRouter(prefix="/v1/system", tags=["system"])


@probes.get("/healthz")
async def healthz() -> Health:
    """The service is up (asks the engine nothing)."""
    return Health()


@probes.get(
    "/readyz",
    responses=errors.problem_responses(errors.EngineUnavailable),
)
async def readyz(request: Request) -> Ready:
    """The default host's engine answers, as its prober finds it (the others' states are
    listed, not waited on)."""
    hosts: HostRegistry = request.app.state.hosts
    host = hosts.default
    settings = host.settings
    # The prober already asks the engine its version every few seconds: readiness is
    # its verdict (waiting at most `ready_timeout` on a probe that is out), not a second
    # GET /version per load-balancer check.
    if not await host.ready(settings.ready_timeout):
        why = (
            f"its engine has not answered a probe within {settings.ready_timeout:g} s"
            if host.state == "up"
            else f"it is {host.state}" + (f": {host.error}" if host.error else "")
        )
        raise errors.EngineUnavailable(
            f"Not ready: host {host.name!r}: {why}", retry_after=settings.engine_retry_after
        )
    return Ready(
        engine=EngineSummary(
            version=host.version, api_version=host.api_version, os=host.os, arch=host.arch
        ),
        hosts={h.name: h.state for h in hosts.all()},
    )


@probes.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus metrics: requests by operation and status, engine and stream gauges.

    The engine and stream series without labels are totals over every host; the
    `moorage_host_*{host="…"}` series are each host's own."""
    app = request.app
    hosts: HostRegistry = app.state.hosts
    gauges: dict[str, float] = {}
    # Engine events too large to read whole, kept without their attributes.
    counters: dict[str, float] = {"moorage_engine_events_oversized_total": 0.0}

    def add(series: dict[str, float], name: str, value: float) -> None:
        series[name] = series.get(name, 0.0) + value

    for host in hosts.all():
        bus, connector = host.events, host.engine.docker.connector
        in_use = float(len(getattr(connector, "_acquired", ())))
        own = {
            "engine_connections_open": float(
                sum(len(v) for v in getattr(connector, "_conns", {}).values())
            )
            + in_use,
            "engine_connections_in_use": in_use,
            "engine_events_connected": 1.0 if bus.connected.is_set() else 0.0,
        }
        for name, value in own.items():
            add(gauges, f"moorage_{name}", value)
            gauges[f'moorage_host_{name}{{host="{host.name}"}}'] = value
        gauges[f'moorage_host_up{{host="{host.name}"}}'] = 1.0 if host.state == "up" else 0.0
        add(gauges, "moorage_event_subscribers", float(len(bus.subscribers)))
        add(gauges, "moorage_events_journal_size", float(len(bus.journal)))
        add(counters, "moorage_engine_events_oversized_total", float(bus.oversized))
        for name, value in host.hubs.gauges().items():
            add(gauges, name, value)
        for name, value in host.hubs.counters().items():
            add(counters, name, value)
    return PlainTextResponse(
        app.state.metrics.render(gauges, counters), media_type="text/plain; version=0.0.4"
    )


@router.get("/ping", responses=errors.problem_responses())
async def system_ping(engine: EngineDep) -> Ping:
    """Ping the engine; gives the API version moorage speaks to it."""
    version = await engine.negotiate()
    return Ping(ok=await engine.ping(), api_version=version)


@router.get("/version", responses=errors.problem_responses())
async def system_version(engine: EngineDep) -> EngineVersion:
    """The engine's version."""
    doc: dict[str, Any] = await engine.json("GET", "version")
    return EngineVersion.model_validate({**doc, "raw": doc})


@router.get("/info", responses=errors.problem_responses())
async def system_info(engine: EngineDep) -> Info:
    """The engine's system-wide information."""
    doc: dict[str, Any] = await engine.json("GET", "info")
    swarm = (doc.get("Swarm") or {}).get("LocalNodeState")
    return Info.model_validate({**doc, "SwarmState": swarm, "raw": doc})


@router.get("/df", responses=errors.problem_responses())
async def system_df(engine: EngineDep) -> DiskUsage:
    """Disk usage by images, containers, volumes and build cache."""
    doc: dict[str, Any] = await engine.shared(
        "system/df", lambda: engine.json("GET", "system/df", long=True)
    )
    return disk_usage(doc)


@router.post(
    "/auth",
    responses=errors.problem_responses(
        errors.RegistryDenied, errors.RegistryUnreachable, errors.EngineError
    ),
)
async def system_auth(engine: EngineDep, body: LoginRequest) -> LoginResult:
    """Check registry credentials, as docker-py `login` does; nothing is stored, and
    every later call gives its own `auth`."""
    doc = await registry_ops.login(engine, body)
    return LoginResult(
        status=str(doc.get("Status") or ""), identity_token=doc.get("IdentityToken") or None
    )
