"""Server-Sent Event routes: logs, health, events, stats."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["streams"])
