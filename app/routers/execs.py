"""Exec routes: run a command in a container, read an exec's state."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["execs"])
