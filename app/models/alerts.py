"""Alert rules, alerts and deliveries (API.md "Notifications")."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.models.common import RequestBody


class AlertHealthStatus(StrEnum):
    starting = "starting"
    healthy = "healthy"
    unhealthy = "unhealthy"


class AlertHostState(StrEnum):
    up = "up"
    down = "down"
    connecting = "connecting"
    disabled = "disabled"


Format = Literal["json", "slack", "discord", "ntfy"]
AlertState = Literal["firing", "resolved"]

PATTERN_MAX = 1000
_LIST_MAX = 64


class HealthWhen(RequestBody):
    """A container's health status is one of `status` (resolved when it leaves them)."""

    kind: Literal["health"]
    status: list[AlertHealthStatus] = Field(
        default=[AlertHealthStatus.unhealthy], min_length=1, max_length=3
    )


class EventWhen(RequestBody):
    """An engine event of `type` whose action is exactly one of `action`."""

    kind: Literal["event"]
    type: str = Field(default="container", pattern=r"^[a-z]{1,32}$")
    action: list[str] = Field(
        default=["die"], min_length=1, max_length=_LIST_MAX, description="Exact actions, each 1-64"
    )

    @field_validator("action")
    @classmethod
    def _bounded(cls, values: list[str]) -> list[str]:
        return _items(values, 64)

    exit_code_nonzero: bool = Field(
        default=False, description="Only events whose `exitCode` attribute is not 0 (a `die`)"
    )


class LogWhen(RequestBody):
    """A log line matches `pattern` (a Python regular expression, searched)."""

    kind: Literal["log"]
    pattern: str = Field(min_length=1, max_length=PATTERN_MAX)
    stream: Literal["stdout", "stderr", "both"] = "both"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value


class StatsWhen(RequestBody):
    """A container's `metric` stays above `above` (percent) for `for` seconds."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind: Literal["stats"]
    metric: Literal["cpu_percent", "memory_percent"]
    above: float = Field(ge=0, le=100_000)
    for_: float = Field(default=0, ge=0, le=86_400, alias="for", description="Seconds")


class HostWhen(RequestBody):
    """A host's state is one of `state` (resolved when it leaves them)."""

    kind: Literal["host"]
    state: list[AlertHostState] = Field(default=[AlertHostState.down], min_length=1, max_length=4)


When = Annotated[
    HealthWhen | EventWhen | LogWhen | StatsWhen | HostWhen, Field(discriminator="kind")
]


def _items(values: list[str], longest: int) -> list[str]:
    # Bounds of each item checked here, not as a schema of its own: generators would
    # name an item schema after its field (`labels` -> `Label`), which exists already.
    for value in values:
        if not 1 <= len(value) <= longest:
            raise ValueError(f"each item has 1 to {longest} characters")
    return values


class AlertScope(RequestBody):
    """Which hosts and containers a rule watches: every list must match (empty: any)."""

    hosts: list[str] = Field(default=["*"], max_length=_LIST_MAX, description="Host globs")
    labels: list[str] = Field(
        default_factory=list, max_length=_LIST_MAX, description="`key` or `key=value`, all"
    )
    names: list[str] = Field(
        default_factory=list, max_length=_LIST_MAX, description="Container name globs, any"
    )

    @field_validator("hosts", "labels", "names")
    @classmethod
    def _bounded(cls, values: list[str]) -> list[str]:
        return _items(values, 256)


class AlertTargetIn(RequestBody):
    """Where deliveries go. `url` must start with one of `MOORAGE_WEBHOOK_ALLOW`."""

    url: str = Field(min_length=8, max_length=2048)
    format: Format = "json"
    secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="HMAC-SHA256 key of X-Moorage-Signature; write-only",
    )


class AlertTarget(BaseModel):
    """Where deliveries go (the secret is never shown)."""

    url: str
    format: Format
    has_secret: bool


class AlertRuleCreate(RequestBody):
    """A new rule."""

    name: str = Field(min_length=1, max_length=200)
    when: When
    scope: AlertScope = Field(default_factory=AlertScope)
    target: AlertTargetIn
    throttle: float = Field(
        default=300, ge=0, le=30 * 86_400, description="Seconds between alerts per container"
    )
    enabled: bool = True


class AlertTargetPatch(RequestBody):
    """Fields to change; a secret left out is kept, `""` removes it."""

    url: str | None = Field(default=None, min_length=8, max_length=2048)
    format: Format | None = None
    secret: str | None = Field(default=None, max_length=1024)


class AlertRulePatch(RequestBody):
    """Fields to change; the others stay."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    when: When | None = None
    scope: AlertScope | None = None
    target: AlertTargetPatch | None = None
    throttle: float | None = Field(default=None, ge=0, le=30 * 86_400)
    enabled: bool | None = None


class AlertRule(BaseModel):
    """A stored rule."""

    id: str
    name: str
    when: When
    scope: AlertScope
    target: AlertTarget
    throttle: float
    enabled: bool
    created: str
    updated: str


class AlertContainer(BaseModel):
    id: str
    name: str


class Alert(BaseModel):
    """One alert: the body of a `json` delivery, and the `alert` event of the stream."""

    id: str = Field(description="The delivery id (X-Moorage-Delivery), the same on each retry")
    rule_id: str
    rule: str
    state: AlertState
    host: str
    container: AlertContainer
    reason: str
    time: str


class DeliveryAttempt(BaseModel):
    """One try of a delivery."""

    attempt: int
    time: str
    status: Literal["delivered", "failed"]
    code: int | None = Field(description="The receiver's HTTP status, if it answered")
    error: str | None = None
    duration: float = Field(description="Seconds")


class AlertDelivery(BaseModel):
    """An alert in the outbox, with its tries."""

    id: str
    rule_id: str
    url: str
    format: Format
    status: Literal["pending", "delivered", "expired"]
    created: str
    next_try: str | None
    tries: int
    alert: Alert
    attempts: list[DeliveryAttempt]
