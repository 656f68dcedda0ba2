"""Notifications: alert rules, their deliveries, and the live stream of alerts.

No `host` parameter: a rule's scope names its hosts (globs)."""

from __future__ import annotations

import math
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sse_starlette.sse import EventSourceResponse

from app import errors
from app.alerts.service import Alerting, AlertRuleNotFound
from app.models.alerts import Alert, AlertDelivery, AlertRule, AlertRuleCreate, AlertRulePatch
from app.settings import Settings
from app.streams import resume_point, sse_doc, sse_response

router = APIRouter(tags=["alerts"])


async def get_alerting(request: Request) -> Alerting:
    alerting: Alerting = request.app.state.alerts
    return alerting


AlertingDep = Annotated[Alerting, Depends(get_alerting)]
_AUTH = (errors.Unauthorized, errors.Forbidden)

_STREAM_DOC = """\
id: 1764523623.1234567
event: alert
data: {"id": "0b6f…", "rule_id": "5c2e…", "rule": "web unhealthy", "state": "firing", \
"host": "local", "container": {"id": "4f1c8e2a9b7d", "name": "web-1"}, \
"reason": "health unhealthy (was healthy)", "time": "2025-11-30T17:27:03.123456Z"}
"""


@router.get("/v1/alerts/rules", responses=errors.problem_responses(*_AUTH))
async def alerts_rules_list(alerting: AlertingDep) -> list[AlertRule]:
    """Every alert rule (secrets are never shown)."""
    return await alerting.list_rules()


@router.post(
    "/v1/alerts/rules",
    status_code=201,
    responses=errors.problem_responses(*_AUTH, errors.ValidationFailed),
)
async def alerts_rules_create(body: AlertRuleCreate, alerting: AlertingDep) -> AlertRule:
    """Add an alert rule; its target must be allowed by MOORAGE_WEBHOOK_ALLOW (else 422)."""
    return await alerting.create_rule(body)


@router.get("/v1/alerts/rules/{id}", responses=errors.problem_responses(*_AUTH, AlertRuleNotFound))
async def alerts_rules_get(id: str, alerting: AlertingDep) -> AlertRule:
    """One alert rule."""
    from app.alerts.rules import rule_view

    return rule_view(await alerting.get_rule(id))


@router.patch(
    "/v1/alerts/rules/{id}",
    responses=errors.problem_responses(*_AUTH, AlertRuleNotFound, errors.ValidationFailed),
)
async def alerts_rules_update(id: str, body: AlertRulePatch, alerting: AlertingDep) -> AlertRule:
    """Change a rule: the fields given replace the rule's (a secret left out is kept)."""
    return await alerting.update_rule(id, body)


@router.delete(
    "/v1/alerts/rules/{id}",
    status_code=204,
    responses=errors.problem_responses(*_AUTH, AlertRuleNotFound),
)
async def alerts_rules_delete(id: str, alerting: AlertingDep) -> Response:
    """Remove a rule; what it raised and has not delivered yet is not tried again."""
    await alerting.delete_rule(id)
    return Response(status_code=204)


@router.post(
    "/v1/alerts/rules/{id}/test",
    status_code=202,
    responses=errors.problem_responses(*_AUTH, AlertRuleNotFound),
)
async def alerts_rules_test(id: str, alerting: AlertingDep) -> AlertDelivery:
    """Send a test delivery to the rule's target (through the outbox, signed, retried)."""
    return await alerting.test(await alerting.get_rule(id))


@router.get("/v1/alerts/deliveries", responses=errors.problem_responses(*_AUTH))
async def alerts_deliveries_list(
    alerting: AlertingDep,
    rule_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Literal["pending", "delivered", "expired"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AlertDelivery]:
    """Deliveries, newest first, each with every try (status, answer code, time)."""
    return await alerting.deliveries(rule_id, status, limit)


@router.get(
    "/v1/alerts/stream",
    response_class=EventSourceResponse,
    responses={
        **sse_doc(
            "`event: alert` per alert raised (firing or resolved), id its raising time",
            _STREAM_DOC,
            events={"alert": Alert},
        ),
        **errors.problem_responses(*_AUTH),
    },
)
async def alerts_stream(
    request: Request,
    alerting: AlertingDep,
    last_event_id: Annotated[
        str | None, Query(description="Resume after this event id (for clients without headers)")
    ] = None,
) -> EventSourceResponse:
    """Alerts as they are raised (SSE), for dashboards; resumable with Last-Event-ID."""
    resume = resume_point(request, last_event_id)
    after = time.time()  # from now (taken here: an alert raised once the headers are out is in)
    if resume is not None:
        try:
            after = float(resume)
        except ValueError:
            after = math.nan
        if not math.isfinite(after) or after < 0 or len(resume) > 40:
            raise errors.ValidationFailed.field(
                ["query", "last_event_id"], f"{resume[:80]!r} is not an alert event id"
            )
    settings: Settings = request.app.state.settings
    return sse_response(alerting.stream(after), settings, request)
