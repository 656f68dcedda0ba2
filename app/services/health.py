"""Health: a container's health check state, read from its inspect document."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel

from app.models.common import rfc3339

HealthStatus = Literal["none", "starting", "healthy", "unhealthy"]


class HealthCheckResult(BaseModel):
    start: str | None = None
    end: str | None = None
    exit_code: int | None = None
    output: str = ""


class HealthReport(BaseModel):
    container_id: str
    name: str
    status: HealthStatus
    failing_streak: int = 0
    log: list[HealthCheckResult] = []


def health_report(inspect: dict[str, Any]) -> HealthReport:
    """`State.Health` as a report; `none` when the container has no health check."""
    health = (inspect.get("State") or {}).get("Health")
    name = str(inspect.get("Name") or "").lstrip("/")
    if not health or health.get("Status") in (None, "", "none"):
        return HealthReport(container_id=inspect["Id"], name=name, status="none")
    return HealthReport(
        container_id=inspect["Id"],
        name=name,
        status=health["Status"],
        failing_streak=int(health.get("FailingStreak") or 0),
        log=[
            HealthCheckResult(
                start=rfc3339(entry.get("Start")),
                end=rfc3339(entry.get("End")),
                exit_code=entry.get("ExitCode"),
                output=str(entry.get("Output") or ""),
            )
            for entry in health.get("Log") or []
        ],
    )


def health_event(report: HealthReport, previous: str | None, ts: str | None) -> dict[str, Any]:
    """The data of an `event: health`."""
    last = report.log[-1] if report.log else None
    return {
        "container_id": report.container_id,
        "name": report.name,
        "status": report.status,
        "previous": previous,
        "failing_streak": report.failing_streak,
        "output": last.output if last else "",
        "ts": ts or (last.end if last else None) or rfc3339(time.time()),
    }


def ns_rfc3339(ns: int) -> str:
    base = rfc3339(ns // 1_000_000_000) or ""
    return base.replace("Z", f".{ns % 1_000_000_000:09d}Z")
