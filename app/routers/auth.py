"""Auth routes: browser sessions and stream tickets; the audit log."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["auth"])
