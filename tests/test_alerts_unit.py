"""The pure parts of alerting: the throttle and firing → resolved decision, the allow
list, the back-off, the wire formats and their signature, and the store's dialects
(SQLite here; PostgreSQL in tests/test_alerts_live.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from app.alerts.formats import render, sign
from app.alerts.sender import backoff, url_allowed
from app.alerts.store import AlertStore, PairState, Raise, SqliteAlertStore, _pg, decide
from app.audit import AuditStore
from app.models.alerts import AlertState


def raise_(
    state: AlertState = "firing",
    *,
    instant: bool = False,
    throttle: float = 60,
    now: float = 1000,
    id: str = "a1",
) -> Raise:
    alert = {"id": id, "state": state}
    return Raise(
        id, "r", "local/c", state, instant, throttle, "http://x/", "json", None, alert, now
    )


def test_a_condition_fires_once_then_resolves():
    send, st = decide(PairState(), raise_())
    assert send
    assert st == PairState(True, True, 1000)
    assert decide(st, raise_(now=1001)) == (False, st)  # firing already
    send, st = decide(st, raise_("resolved", now=1002))
    assert send
    assert st == PairState(False, False, 1000)
    assert decide(st, raise_("resolved", now=1003))[0] is False  # nothing to resolve


def test_the_throttle_holds_back_a_new_episode_and_its_resolved():
    _, st = decide(PairState(), raise_(now=1000))
    _, st = decide(st, raise_("resolved", now=1010))
    send, st = decide(st, raise_(now=1020))  # within 60 s of the last sent
    assert not send
    assert st.firing
    assert not st.notified
    send, st = decide(st, raise_("resolved", now=1030))
    assert not send  # its firing never went out
    send, _ = decide(st, raise_(now=1061))
    assert send


def test_occurrences_are_throttled_per_pair_not_held_firing():
    _, st = decide(PairState(), raise_(instant=True, throttle=0))
    assert not st.firing
    assert decide(st, raise_(instant=True, throttle=0, now=1000))[0]
    _, st = decide(PairState(), raise_(instant=True, throttle=10))
    assert not decide(st, raise_(instant=True, throttle=10, now=1005))[0]
    assert decide(st, raise_(instant=True, throttle=10, now=1011))[0]


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://hooks.local:9000/x", True),
        ("http://hooks.local:9000", True),
        ("http://hooks.local:9000?x=1", True),
        ("http://hooks.local:90001/x", False),
        ("http://hooks.local:9000@evil.example/x", False),
        ("http://hooks.local:9000.evil.example/x", False),
        ("https://hooks.local:9000/x", False),
        ("http://hooks.local:9000/x\r\nHost: evil", False),
        ("file:///etc/passwd", False),
        ("http://other/x", False),
    ],
)
def test_url_allowed_cuts_at_a_url_boundary(url, ok):
    assert url_allowed(url, ["http://hooks.local:9000"]) is ok


def test_url_allowed_with_a_path_prefix_and_nothing_by_default():
    assert url_allowed("http://h/team/a", ["http://h/team/"])
    assert not url_allowed("http://h/teammate", ["http://h/team"])
    assert not url_allowed("http://h/x", [])
    assert not url_allowed("http://h/x", [""])


def test_backoff_doubles_up_to_its_cap_with_jitter():
    for tries, step in [(1, 1), (2, 2), (3, 4), (10, 30), (100, 30)]:
        waits = [backoff(tries, 1, 30) for _ in range(200)]
        assert all(step / 2 <= w <= step for w in waits)
        assert len(set(waits)) > 1  # jitter


ALERT: dict[str, Any] = {
    "id": "d1",
    "rule_id": "r1",
    "rule": "web unhealthy",
    "state": "firing",
    "host": "local",
    "container": {"id": "c1", "name": "web-1"},
    "reason": "health unhealthy",
    "time": "2026-12-01T00:00:00Z",
}


def test_json_body_and_signature():
    body, headers = render("json", ALERT, "k")
    assert json.loads(body) == ALERT
    want = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert headers["X-Moorage-Signature"] == want == sign("k", body)
    assert headers["X-Moorage-Delivery"] == "d1"
    assert render("json", ALERT, "k") == (body, headers)  # the same bytes on every retry
    assert "X-Moorage-Signature" not in render("json", ALERT, None)[1]


@pytest.mark.parametrize(("fmt", "key"), [("slack", "text"), ("discord", "content")])
def test_chat_formats_carry_the_same_facts(fmt, key):
    body, _ = render(fmt, ALERT, "k")
    text = json.loads(body)[key]
    assert text == "[FIRING] web unhealthy: local/web-1: health unhealthy"


def test_ntfy_is_plain_text_with_a_title():
    body, headers = render("ntfy", {**ALERT, "state": "resolved"}, None)
    assert body.decode() == "[RESOLVED] web unhealthy: local/web-1: health unhealthy"
    assert headers["Title"] == "moorage: web unhealthy"
    assert headers["Tags"] == "white_check_mark"


def test_discord_content_is_bounded():
    body, _ = render("discord", {**ALERT, "reason": "x" * 5000}, None)
    assert len(json.loads(body)["content"]) == 2000


def test_placeholders_for_postgresql():
    assert _pg("a = ? AND b IN (?, ?)") == "a = $1 AND b IN ($2, $3)"


async def test_sqlite_outbox_raise_claim_and_lease():
    audit = AuditStore(":memory:")  # alerting shares the audit store's connection
    await audit.open()
    store = AlertStore(SqliteAlertStore(audit))
    await store.open()
    try:
        assert await store.raise_alert(raise_(instant=True, throttle=0, id="x"))
        # The same occurrence again (another replica, a restart): one row.
        assert not await store.raise_alert(raise_(instant=True, throttle=0, id="x"))
        (row,) = await store.claim("me", 1000, 30, 10)
        assert row.id == "x"
        assert await store.claim("other", 1010, 30, 10) == []  # leased
        (again,) = await store.claim("other", 1031, 30, 10)  # the lease ran out
        await store.record_try(
            again, ts=1031, delivered=False, code=500, error=None, duration=0.1, next_try=1040
        )
        assert await store.claim("other", 1035, 30, 10) == []  # not due
        (third,) = await store.claim("other", 1040, 30, 10)
        assert third.tries == 1
        await store.record_try(
            third, ts=1040, delivered=True, code=200, error=None, duration=0.1, next_try=None
        )
        assert await store.claim("other", 9999, 30, 10) == []
        ((done, tries),) = await store.deliveries(None, None, 10)
        assert done.status == "delivered"
        assert [(t[1], t[3], t[4]) for t in tries] == [(1, "failed", 500), (2, "delivered", 200)]
    finally:
        await store.close()
        await audit.close()
