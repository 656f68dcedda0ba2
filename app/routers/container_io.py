"""Container input/output routes: logs history, health, stats, top, archive."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/containers", tags=["containers"])
