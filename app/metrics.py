"""Prometheus metrics: requests by operation and status, engine and stream gauges.

Counted by a pure ASGI middleware (no per-request allocation beyond a dict lookup);
rendered in the Prometheus text format by `GET /metrics`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf"))


@dataclass
class Metrics:
    requests: defaultdict[tuple[str, str, int], int] = field(
        default_factory=lambda: defaultdict(int)
    )
    latency_count: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    latency_sum: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    latency_buckets: defaultdict[str, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0] * len(BUCKETS))
    )
    in_flight: int = 0

    def observe(self, method: str, operation: str, status: int, seconds: float) -> None:
        self.requests[(method, operation, status)] += 1
        self.latency_count[operation] += 1
        self.latency_sum[operation] += seconds
        buckets = self.latency_buckets[operation]
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                buckets[i] += 1

    def render(self, gauges: dict[str, float], counters: dict[str, float] | None = None) -> str:
        """The text format; `gauges`/`counters` are extra series by name (labels
        included: `name{label="v"}`)."""
        lines = [
            "# HELP moorage_requests_total Requests answered, by method, operation and status.",
            "# TYPE moorage_requests_total counter",
        ]
        for (method, op, status), n in sorted(self.requests.items()):
            labels = f'method="{method}",operation="{op}",status="{status}"'
            lines.append(f"moorage_requests_total{{{labels}}} {n}")
        lines += [
            "# HELP moorage_request_duration_seconds Time to the response's end, by operation.",
            "# TYPE moorage_request_duration_seconds histogram",
        ]
        for op in sorted(self.latency_count):
            for bound, n in zip(BUCKETS, self.latency_buckets[op], strict=True):
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(
                    f'moorage_request_duration_seconds_bucket{{operation="{op}",le="{le}"}} {n}'
                )
            lines.append(
                f'moorage_request_duration_seconds_sum{{operation="{op}"}} '
                f"{self.latency_sum[op]:.6f}"
            )
            lines.append(
                f'moorage_request_duration_seconds_count{{operation="{op}"}} '
                f"{self.latency_count[op]}"
            )
        lines += [
            "# HELP moorage_requests_in_flight Requests being answered now.",
            "# TYPE moorage_requests_in_flight gauge",
            f"moorage_requests_in_flight {self.in_flight}",
        ]
        typed: set[str] = set()
        for kind, series in (("gauge", gauges), ("counter", counters or {})):
            for name, value in sorted(series.items()):
                base = name.partition("{")[0]
                if base not in typed:
                    typed.add(base)
                    lines.append(f"# TYPE {base} {kind}")
                lines.append(f"{name} {value:g}")
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Count every HTTP request by the operation (route name) that answered it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        metrics = self.metrics

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics.in_flight += 1
        try:
            await self.app(scope, receive, send_status)
        finally:
            metrics.in_flight -= 1
            route = scope.get("route")
            operation = getattr(route, "name", None) or "unmatched"
            metrics.observe(scope["method"], operation, status, time.perf_counter() - start)
