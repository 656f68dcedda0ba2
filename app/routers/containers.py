"""Container routes (lifecycle)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/containers", tags=["containers"])
