"""The `data` of each Server-Sent Event kind.

The stream code encodes the same fields directly, for speed; these models are the
contract: `app.streams.sse_doc(..., events={name: Model})` puts them in the spec,
per stream, and the tests check real events against them. Every field listed as
required is sent on every event of that kind.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

_ID = "4f1c8e2a9b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
_TS = "2025-11-30T17:27:03.123456789Z"


def _example(**fields: JsonValue) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [fields]})


class LogEvent(BaseModel):
    """`event: log`, `id: <ts_ns>-<seq>` (seq numbers lines with the same stamp)."""

    model_config = _example(stream="stdout", ts=_TS, line="hello")

    stream: Literal["stdout", "stderr"]
    ts: str
    line: str


class HealthEvent(BaseModel):
    """`event: health`: one per change of status; the first is the current status."""

    model_config = _example(
        container_id=_ID,
        name="web",
        status="healthy",
        previous="starting",
        failing_streak=0,
        output="ok\n",
        ts=_TS,
    )

    container_id: str
    name: str
    status: Literal["none", "starting", "healthy", "unhealthy"]
    previous: Literal["none", "starting", "healthy", "unhealthy"] | None = Field(
        description="The status before this change; null on a stream's first event"
    )
    failing_streak: int
    output: str = Field(description="Output of the last check")
    ts: str = Field(description="When the engine reported the change (or the last check ended)")


class EngineEvent(BaseModel):
    """`event: <type>` (`container`, `image`, …), `id: <time_nano>`: one engine event."""

    model_config = _example(
        type="container",
        action="start",
        id=_ID,
        name="web",
        attributes={"image": "busybox", "name": "web"},
        time=_TS,
        time_nano=1764523623123456789,
    )

    type: str
    action: str
    id: str | None
    name: str | None
    attributes: dict[str, str]
    time: str
    time_nano: int


class StreamEnd(BaseModel):
    """`event: end`: the stream is over. `exited` carries `exit_code`. After
    `max-lifetime` or `shutdown`, reconnect and resume with `Last-Event-ID`."""

    model_config = _example(reason="exited", exit_code=0)

    reason: Literal["exited", "removed", "until", "max-lifetime", "engine-gone", "shutdown"]
    exit_code: int | None = Field(default=None, description="With `exited` only")


class StreamGap(BaseModel):
    """`event: gap` (events stream): events after `after` were lost (the engine
    restarted, or the resume point is older than its memory and moorage's journal)."""

    model_config = _example(
        after="1764520000000000000",
        first_available="1764523600000000000",
        detail="Events after this id were lost: the engine restarted",
    )

    after: str
    first_available: str | None
    detail: str


class PullProgress(BaseModel):
    """`event: progress` of a pull, push or build: one layer's status."""

    model_config = _example(id="a1b2c3d4e5f6", status="Downloading", current=1048576, total=3145728)

    id: str | None = Field(description="The layer; null for the image-wide lines")
    status: str | None
    current: int | None
    total: int | None


class BuildLog(BaseModel):
    """`event: log` of a build: one line of its output."""

    model_config = _example(line="Step 1/2 : FROM moorage-test/busybox:latest")

    line: str


class BuildDone(BaseModel):
    """`event: done` of a build: the image made."""

    model_config = _example(image="sha256:" + _ID, tags=["app:1.0"])

    image: str = Field(description="The built image's id")
    tags: list[str]


class ExecChunk(BaseModel):
    """`event: stdout` / `event: stderr` of an exec: output as it comes."""

    model_config = _example(data="hello\n")

    data: str


class ExecExit(BaseModel):
    """`event: exit`, the last of an exec: its exit code."""

    model_config = _example(exit_code=0)

    exit_code: int


class HostStateEvent(BaseModel):
    """`event: host` (streams over several hosts): a host went down or came back."""

    model_config = _example(host="edge-1", state="down")

    host: str
    state: Literal["up", "down", "connecting", "disabled"]
