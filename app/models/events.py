"""The `data` of each Server-Sent Event kind (documentation and tests; the stream
code encodes the same fields directly, for speed)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class LogEvent(BaseModel):
    """`event: log`, `id: <ts_ns>-<seq>` (seq numbers lines with the same stamp)."""

    stream: Literal["stdout", "stderr"]
    ts: str
    line: str


class HealthEvent(BaseModel):
    """`event: health`: one per change of status; the first is the current status."""

    container_id: str
    name: str
    status: Literal["none", "starting", "healthy", "unhealthy"]
    previous: str | None = None
    failing_streak: int = 0
    output: str = ""
    ts: str | None = None


class EngineEvent(BaseModel):
    """`event: <type>`, `id: <time_nano>`: one engine event."""

    type: str
    action: str
    id: str | None = None
    name: str | None = None
    attributes: dict[str, str] = {}
    time: str
    time_nano: int


class StreamEnd(BaseModel):
    """`event: end`: the stream is over; a client may reconnect and resume."""

    reason: Literal["exited", "removed", "until", "max-lifetime", "engine-gone"]
    exit_code: int | None = None


class StreamGap(BaseModel):
    """`event: gap` (events stream): the resume point is older than both the
    engine's memory and moorage's journal; events in between were lost."""

    after: str
    first_available: str | None = None
    detail: str


def schemas() -> dict[str, Any]:
    return {
        m.__name__: m.model_json_schema()
        for m in (LogEvent, HealthEvent, EngineEvent, StreamEnd, StreamGap)
    }
