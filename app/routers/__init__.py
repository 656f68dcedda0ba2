"""The single list of routers."""

from __future__ import annotations

from fastapi import APIRouter

from app.middleware import HotRead
from app.routers import (
    alerts,
    auth,
    container_io,
    container_ops,
    containers,
    execs,
    hosts,
    images,
    networks,
    services,
    streams,
    swarm,
    system,
    terminals,
    volumes,
)

# Matched in this order, the hottest first (no path of one router is a path of
# another before it: system's are /healthz, /readyz, /metrics, /v1/system/*).
ROUTERS: list[APIRouter] = [
    containers.router,
    system.probes,
    # Read by dashboards and balancers every few seconds: not behind a hundred routes.
    hosts.router,
    system.router,
    container_io.router,
    container_ops.router,
    execs.router,
    terminals.router,
    images.router,
    volumes.router,
    networks.router,
    streams.router,
    swarm.router,
    services.router,
    auth.router,
    alerts.router,
]

# GET routes answered before routing (app/middleware.py HotReads); each is also routed.
HOT_READS: list[HotRead] = [*containers.HOT_READS]
