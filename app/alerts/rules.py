"""Rules as the evaluators use them: checked once (regex compiled, scope split),
matched against a host and a container in process."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from pydantic import TypeAdapter

from app.alerts.store import StoredRule
from app.models.alerts import (
    AlertRule,
    AlertScope,
    AlertTarget,
    EventWhen,
    HealthWhen,
    HostWhen,
    LogWhen,
    StatsWhen,
    When,
)

_WHEN: TypeAdapter[When] = TypeAdapter(When)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class CompiledRule:
    id: str
    name: str
    when: When
    scope: AlertScope
    url: str
    format: str
    secret: str | None
    throttle: float
    enabled: bool
    regex: re.Pattern[str] | None = None
    labels: tuple[tuple[str, str | None], ...] = field(default=())

    @classmethod
    def of(cls, stored: StoredRule) -> CompiledRule:
        doc = stored.doc
        when = _WHEN.validate_python(doc["when"])
        scope = AlertScope.model_validate(doc.get("scope") or {})
        labels = tuple(
            (k, v if eq else None) for k, eq, v in (flt.partition("=") for flt in scope.labels)
        )
        return cls(
            id=stored.id,
            name=doc["name"],
            when=when,
            scope=scope,
            url=doc["target"]["url"],
            format=doc["target"].get("format", "json"),
            secret=stored.secret,
            throttle=float(doc.get("throttle", 300)),
            enabled=bool(doc.get("enabled", True)),
            regex=re.compile(when.pattern) if isinstance(when, LogWhen) else None,
            labels=labels,
        )

    @property
    def kind(self) -> str:
        return self.when.kind

    def on_host(self, host: str) -> bool:
        return any(fnmatchcase(host, glob) for glob in self.scope.hosts)

    def on_container(self, name: str, labels: dict[str, str]) -> bool:
        """The container's name (no leading slash) and labels are in scope."""
        for key, value in self.labels:
            if key not in labels or (value is not None and labels[key] != value):
                return False
        names = self.scope.names
        return not names or any(fnmatchcase(name, glob) for glob in names)


def rule_view(stored: StoredRule) -> AlertRule:
    doc = stored.doc
    return AlertRule(
        id=stored.id,
        name=doc["name"],
        when=_WHEN.validate_python(doc["when"]),
        scope=AlertScope.model_validate(doc.get("scope") or {}),
        target=AlertTarget(
            url=doc["target"]["url"],
            format=doc["target"].get("format", "json"),
            has_secret=bool(stored.secret),
        ),
        throttle=float(doc.get("throttle", 300)),
        enabled=bool(doc.get("enabled", True)),
        created=iso(stored.created),
        updated=iso(stored.updated),
    )


def when_doc(when: When) -> dict[str, Any]:
    return when.model_dump(by_alias=True)


__all__ = [
    "CompiledRule",
    "EventWhen",
    "HealthWhen",
    "HostWhen",
    "LogWhen",
    "StatsWhen",
    "iso",
    "rule_view",
    "when_doc",
]
