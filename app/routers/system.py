"""System routes: liveness, readiness, ping, version, info, disk usage."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from app import errors
from app.engine import EngineDep
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
async def readyz(engine: EngineDep) -> Ready:
    """The engine answers."""
    try:
        # A probe must answer quickly: a stalled engine is "not ready", not a hang.
        async with asyncio.timeout(engine.settings.ready_timeout):
            doc: dict[str, Any] = await engine.json("GET", "version", versioned=False)
    except TimeoutError as exc:
        raise errors.EngineUnavailable(
            f"Not ready: the engine did not answer within {engine.settings.ready_timeout:g} s",
            retry_after=engine.settings.engine_retry_after,
        ) from exc
    except errors.ProblemError as exc:
        raise errors.EngineUnavailable(
            f"Not ready: {exc.detail}", retry_after=engine.settings.engine_retry_after
        ) from exc
    return Ready(
        engine=EngineSummary(
            version=doc.get("Version"),
            api_version=engine.api_version or doc.get("ApiVersion"),
            os=doc.get("Os"),
            arch=doc.get("Arch"),
        )
    )


@probes.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus metrics: requests by operation and status, engine and stream gauges."""
    app = request.app
    bus = app.state.events
    connector = app.state.engine.docker.connector
    gauges = {
        "moorage_engine_connections_open": float(
            sum(len(v) for v in getattr(connector, "_conns", {}).values())
            + len(getattr(connector, "_acquired", ()))
        ),
        "moorage_engine_connections_in_use": float(len(getattr(connector, "_acquired", ()))),
        "moorage_engine_events_connected": 1.0 if bus.connected.is_set() else 0.0,
        "moorage_event_subscribers": float(len(bus.subscribers)),
        "moorage_events_journal_size": float(len(bus.journal)),
    }
    hubs = getattr(app.state, "hubs", None)
    # Engine events too large to read whole, kept without their attributes.
    counters: dict[str, float] = {"moorage_engine_events_oversized_total": float(bus.oversized)}
    if hubs is not None:
        gauges.update(hubs.gauges())
        counters.update(hubs.counters())
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
