"""Alerting as the app runs it: the rules (from the database), one `HostWatch` per
host, the sender, and raising an alert (the one place an alert is made)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from app import errors
from app.alerts.evaluate import HostView, HostWatch, Seen
from app.alerts.feed import AlertFeed, Raised
from app.alerts.rules import CompiledRule, iso, rule_view, when_doc
from app.alerts.sender import Sender, url_allowed
from app.alerts.store import AlertStore, OutboxRow, Raise, StoredRule
from app.hosts import HostRegistry
from app.models.alerts import (
    Alert,
    AlertContainer,
    AlertDelivery,
    AlertRule,
    AlertRuleCreate,
    AlertRulePatch,
    AlertState,
    DeliveryAttempt,
)
from app.services.events import cancel_and_wait
from app.settings import Settings

log = logging.getLogger("moorage.alerts")

SUPERVISE = 2.0  # hosts and rules (changed by another replica) are checked this often (s)
_IDS = uuid.UUID("6d6f6f72-6167-6561-6c65-727473000000")  # the namespace of occurrence ids


class AlertRuleNotFound(errors.NotFound):
    status, code, title = 404, "alert-rule-not-found", "Alert rule not found"


def app_hosts(state: Any) -> list[HostView]:
    """Every host of the app (app/hosts.py), as the registry has them now."""
    registry: HostRegistry = state.hosts
    return list(registry.all())


class Alerting:
    def __init__(
        self, settings: Settings, store: AlertStore, hosts: Callable[[], list[HostView]]
    ) -> None:
        self.settings = settings
        self.store = store
        self.hosts = hosts
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.sender = Sender(store, settings, self.owner)
        self.rules: list[CompiledRule] = []
        self._signature: frozenset[tuple[str, float]] = frozenset()
        self.watches: dict[str, HostWatch] = {}
        self.feed = AlertFeed(store, settings.sse_queue_size)  # the live stream's clients
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.store.open()
        await self.reload()
        await self._watch_hosts()
        await self.sender.start()
        self._task = asyncio.create_task(self._supervise(), name="moorage-alerts")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        for watch in list(self.watches.values()):
            await watch.stop()
        self.watches.clear()
        await self.feed.stop()
        await self.sender.stop()
        await self.store.close()

    async def reload(self) -> None:
        """The rules from the database (after a change here, or seen changed there)."""
        stored = await self.store.rules()
        signature = frozenset((s.id, s.updated) for s in stored)
        if signature == self._signature:
            return
        rules = []
        for s in stored:
            try:
                rules.append(CompiledRule.of(s))
            except Exception as exc:  # a row this version cannot read: skipped, said
                log.error("alerts: rule %s cannot be used: %s", s.id, exc)
        changed = {rule_id for rule_id, _ in signature ^ self._signature}
        self.rules, self._signature = rules, signature
        for watch in self.watches.values():
            watch.rules_changed(changed)

    async def _watch_hosts(self) -> None:
        hosts = {h.name: h for h in self.hosts()}
        for name in [n for n in self.watches if n not in hosts]:
            await self.watches.pop(name).stop()
        for name, host in hosts.items():
            if name not in self.watches or self.watches[name].host is not host:
                if name in self.watches:
                    await self.watches.pop(name).stop()
                watch = HostWatch(
                    host,
                    lambda: self.rules,
                    self.fire,
                    queue_size=self.settings.sse_queue_size,
                    logs_buffer=self.settings.stream_logs_buffer_bytes,
                    look_back=self.settings.stream_logs_look_back,
                )
                await watch.start()
                self.watches[name] = watch

    async def _supervise(self) -> None:
        pruned = 0.0
        while True:
            await asyncio.sleep(SUPERVISE)
            try:
                await self.reload()
                await self._watch_hosts()
                if time.time() - pruned > 3600:
                    pruned = time.time()
                    await self.store.prune(pruned - self.settings.alerts_retention)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("alerts: %s", exc)

    # -- rules ---------------------------------------------------------------------------

    def _check_url(self, url: str) -> None:
        if not url_allowed(url, self.settings.webhook_allow):
            allowed = ", ".join(self.settings.webhook_allow) or "nothing (it is empty)"
            raise errors.ValidationFailed.field(
                ["body", "target", "url"],
                f"{url[:200]!r} does not start with a prefix of MOORAGE_WEBHOOK_ALLOW"
                f" (allowed: {allowed})",
            )

    async def get_rule(self, rule_id: str) -> StoredRule:
        stored = await self.store.rule(rule_id) if len(rule_id) <= 64 else None
        if stored is None:
            raise AlertRuleNotFound(f"No alert rule {rule_id[:64]!r}")
        return stored

    async def create_rule(self, body: AlertRuleCreate) -> AlertRule:
        self._check_url(body.target.url)
        now = time.time()
        doc = body.model_dump(by_alias=True, exclude={"target"})
        doc["when"] = when_doc(body.when)
        doc["target"] = {"url": body.target.url, "format": body.target.format}
        stored = StoredRule(str(uuid.uuid4()), doc, body.target.secret, now, now)
        await self.store.add_rule(stored)
        await self.reload()
        return rule_view(stored)

    async def update_rule(self, rule_id: str, body: AlertRulePatch) -> AlertRule:
        stored = await self.get_rule(rule_id)
        doc = dict(stored.doc)
        secret = stored.secret
        for key in ("name", "throttle", "enabled"):
            value = getattr(body, key)
            if value is not None:
                doc[key] = value
        if body.when is not None:
            doc["when"] = when_doc(body.when)
        if body.scope is not None:
            doc["scope"] = body.scope.model_dump()
        if body.target is not None:
            target = dict(doc["target"])
            if body.target.url is not None:
                self._check_url(body.target.url)
                target["url"] = body.target.url
            if body.target.format is not None:
                target["format"] = body.target.format
            if body.target.secret is not None:
                secret = body.target.secret or None
            doc["target"] = target
        now = max(time.time(), stored.updated + 1e-6)
        updated = StoredRule(stored.id, doc, secret, stored.created, now)
        await self.store.save_rule(updated)
        await self.reload()
        return rule_view(updated)

    async def delete_rule(self, rule_id: str) -> None:
        if len(rule_id) > 64 or not await self.store.delete_rule(rule_id):
            raise AlertRuleNotFound(f"No alert rule {rule_id[:64]!r}")
        await self.reload()

    async def list_rules(self) -> list[AlertRule]:
        return [rule_view(s) for s in await self.store.rules()]

    async def deliveries(
        self, rule_id: str | None, status: str | None, limit: int
    ) -> list[AlertDelivery]:
        rows = await self.store.deliveries(rule_id, status, limit)
        return [delivery_view(row, tries) for row, tries in rows]

    # -- raising -------------------------------------------------------------------------

    async def fire(
        self,
        rule: CompiledRule,
        seen: Seen,
        state: AlertState,
        reason: str,
        occurrence: str | None,
    ) -> bool:
        """Raise an alert: into the outbox, or dropped by the throttle or as a repeat.

        `occurrence` names one engine event or log line: every replica (and a restarted
        process) gives it the same id, so it is raised once. A condition (health,
        stats, host) is a state change instead, decided on the pair's stored state."""
        now = time.time()
        where = f"{rule.id}|{seen.host}|{seen.container_id}"
        if occurrence is not None:
            alert_id = str(uuid.uuid5(_IDS, f"{where}|{occurrence}"))
        else:
            alert_id = str(uuid.uuid4())
        alert = Alert(
            id=alert_id,
            rule_id=rule.id,
            rule=rule.name,
            state=state,
            host=seen.host,
            container=AlertContainer(id=seen.container_id, name=seen.container_name),
            reason=reason,
            time=iso(seen.time),
        )
        # With a free slot, the row is written taken by this process and its first try
        # starts from memory: no claim (a database round trip and a wake-up) between.
        taken = self.sender.reserve()
        r = Raise(
            id=alert_id,
            rule_id=rule.id,
            key=f"{seen.host}/{seen.container_id}",
            state=state,
            instant=occurrence is not None,
            throttle=rule.throttle,
            url=rule.url,
            format=rule.format,
            secret=rule.secret,
            alert=alert.model_dump(),
            now=now,
            owner=self.owner if taken else None,
            lease_until=now + self.sender.lease if taken else 0.0,
        )
        try:
            raised = await self.store.raise_alert(r)
        except BaseException:
            if taken:
                self.sender.release()
            raise
        if raised:
            log.info("alert %s: %s %s %s", alert_id, rule.name, state, reason[:200])
            if taken:
                self.sender.hand(OutboxRow.new(r))
            else:
                self.sender.poke()
            self.feed.publish(Raised.of(alert_id, now, r.alert))
        elif taken:
            self.sender.release()
        return raised

    async def test(self, stored: StoredRule) -> AlertDelivery:
        """A test delivery of a rule, sent like any other (signed, retried)."""
        rule = CompiledRule.of(stored)
        now = time.time()
        alert = Alert(
            id=str(uuid.uuid4()),
            rule_id=rule.id,
            rule=rule.name,
            state="firing",
            host="",
            container=AlertContainer(id="", name=""),
            reason="test delivery (POST /v1/alerts/rules/{id}/test)",
            time=iso(now),
        )
        r = Raise(
            alert.id, rule.id, "", "firing", True, 0, rule.url, rule.format, rule.secret,
            alert.model_dump(), now,
        )  # fmt: skip
        await self.store.enqueue(r)
        self.sender.poke()
        self.feed.publish(Raised.of(r.id, now, r.alert))
        return delivery_view(OutboxRow.new(r), [])

    def stream(self, after: float) -> AsyncIterator[bytes]:
        """`event: alert` for each alert raised after `after` (by any replica), id its
        time of raising: pushed as raised here, the outbox read for the rest."""
        return self.feed.stream(after)


def delivery_view(row: OutboxRow, attempts: list[tuple[Any, ...]]) -> AlertDelivery:
    return AlertDelivery(
        id=row.id,
        rule_id=row.rule_id,
        url=row.url,
        format=row.format,
        status=row.status,
        created=iso(row.created),
        next_try=iso(row.next_try) if row.next_try is not None else None,
        tries=row.tries,
        alert=Alert.model_validate(row.alert),
        attempts=[
            DeliveryAttempt(
                attempt=a[1], time=iso(a[2]), status=a[3], code=a[4], error=a[5], duration=a[6]
            )
            for a in attempts
        ],
    )
