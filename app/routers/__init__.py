"""The single list of routers."""

from __future__ import annotations

from fastapi import APIRouter

from app.routers import (
    auth,
    container_io,
    containers,
    execs,
    images,
    networks,
    streams,
    system,
    volumes,
)

ROUTERS: list[APIRouter] = [
    system.probes,
    system.router,
    containers.router,
    container_io.router,
    execs.router,
    images.router,
    volumes.router,
    networks.router,
    streams.router,
    auth.router,
]
