"""The single list of routers."""

from __future__ import annotations

from fastapi import APIRouter

from app.routers import containers, system

ROUTERS: list[APIRouter] = [
    system.probes,
    system.router,
    containers.router,
    containers.execs,
]
