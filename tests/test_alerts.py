"""Alert rules and signed webhooks, against the real engine and a real receiver on
loopback (tests/alert_receiver.py). The app runs in process; streams and restarts
are in tests/test_alerts_live.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.settings import Settings
from tests.alert_receiver import Receiver
from tests.conftest import docker, in_process
from tests.sse import run_container

pytestmark = pytest.mark.engine

SECRET = "s3cret-for-tests"
HEALTH = (
    "--health-cmd", "test -e /healthy && echo fine || (echo missing; exit 1)",
    "--health-interval", "1s", "--health-retries", "1", "--health-start-period", "30s",
)  # fmt: skip


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


def alert_settings(receiver: Receiver, **extra: Any) -> Settings:
    base: dict[str, Any] = {
        "audit_db": ":memory:",
        "webhook_allow": [receiver.url + "/"],
        "webhook_backoff_base": 0.2,
        "webhook_backoff_max": 1.0,
        "webhook_timeout": 5,
    }
    return Settings(**{**base, **extra})


@contextlib.asynccontextmanager
async def app_for(
    receiver: Receiver, **extra: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with in_process(alert_settings(receiver, **extra)) as (app, c):
        yield app, c


def rule(receiver: Receiver, when: dict[str, Any], name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"rule for {name}",
        "when": when,
        "scope": {"names": [name]},
        "target": {"url": f"{receiver.url}/hook", "format": "json", "secret": SECRET},
        "throttle": 0,
        **extra,
    }


async def create(c: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    r = await c.post("/v1/alerts/rules", json=body)
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


# -- rules -------------------------------------------------------------------------------


async def test_rule_crud_secret_write_only(receiver, name):
    async with app_for(receiver) as (_, c):
        made = await create(c, rule(receiver, {"kind": "health"}, name))
        assert made["target"] == {
            "url": f"{receiver.url}/hook",
            "format": "json",
            "has_secret": True,
        }
        assert made["when"] == {"kind": "health", "status": ["unhealthy"]}
        assert SECRET not in (await c.get(f"/v1/alerts/rules/{made['id']}")).text
        assert SECRET not in (await c.get("/v1/alerts/rules")).text
        audit = await c.get("/v1/audit", params={"action": "alerts_rules_create"})
        assert audit.status_code == 200
        assert audit.json()
        assert SECRET not in audit.text  # redacted from the audit summary too
        listed = (await c.get("/v1/alerts/rules")).json()
        assert [r["id"] for r in listed] == [made["id"]]

        r = await c.patch(
            f"/v1/alerts/rules/{made['id']}",
            json={"name": "renamed", "target": {"format": "slack"}, "throttle": 60},
        )
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "renamed"
        assert r.json()["target"] == {
            "url": f"{receiver.url}/hook",
            "format": "slack",
            "has_secret": True,  # kept
        }
        r = await c.patch(f"/v1/alerts/rules/{made['id']}", json={"target": {"secret": ""}})
        assert r.json()["target"]["has_secret"] is False

        assert (await c.delete(f"/v1/alerts/rules/{made['id']}")).status_code == 204
        r = await c.get(f"/v1/alerts/rules/{made['id']}")
        assert r.status_code == 404
        assert r.json()["code"] == "alert-rule-not-found"
        assert (await c.delete(f"/v1/alerts/rules/{made['id']}")).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/hook",  # another port
        "{base}0/hook",  # the prefix's port with a digit more
        "{base}@evil.example/hook",  # user info
        "{base}/../",  # fine textually? no: still under the prefix, allowed below
        "ftp://127.0.0.1/hook",
        "http://example.com/hook",
    ],
)
async def test_url_outside_the_allow_list_is_refused(receiver, name, url):
    url = url.format(base=receiver.url)
    async with app_for(receiver, webhook_allow=[receiver.url]) as (_, c):
        body = rule(receiver, {"kind": "health"}, name)
        body["target"]["url"] = url
        r = await c.post("/v1/alerts/rules", json=body)
        if url.startswith(receiver.url + "/"):
            assert r.status_code == 201, r.text  # under the prefix: allowed
            return
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["loc"] == ["body", "target", "url"]
        assert (await c.get("/v1/alerts/rules")).json() == []  # nothing was stored


async def test_nothing_is_allowed_by_default(receiver, name):
    async with app_for(receiver, webhook_allow=[]) as (_, c):
        r = await c.post("/v1/alerts/rules", json=rule(receiver, {"kind": "health"}, name))
        assert r.status_code == 422
        assert "MOORAGE_WEBHOOK_ALLOW" in r.json()["detail"]
        made = await c.get("/v1/alerts/rules")
        assert made.json() == []


@pytest.mark.parametrize(
    ("when", "loc"),
    [
        ({"kind": "log", "pattern": "(unclosed"}, "pattern"),
        ({"kind": "nope"}, "when"),
        ({"kind": "stats", "metric": "disk", "above": 1}, "metric"),
        ({"kind": "health", "status": ["sick"]}, "status"),
        ({"kind": "event", "action": []}, "action"),
        ({"kind": "health", "typo": 1}, "typo"),
    ],
)
async def test_bad_rules_are_422_naming_the_field(receiver, name, when, loc):
    async with app_for(receiver) as (_, c):
        r = await c.post("/v1/alerts/rules", json=rule(receiver, when, name))
        assert r.status_code == 422, r.text
        assert any(loc in [str(p) for p in e["loc"]] for e in r.json()["errors"]), r.json()
        assert (await c.get("/v1/alerts/rules")).json() == []


# -- kinds against the real engine ------------------------------------------------------------


async def test_unhealthy_fires_once_signed_then_resolved(receiver, name):
    async with app_for(receiver) as (_, c):
        made = await create(c, rule(receiver, {"kind": "health", "status": ["unhealthy"]}, name))
        cid = run_container(name, "touch /healthy; sleep 300", *HEALTH)
        await asyncio.sleep(2.5)  # healthy by now: nothing to say
        assert receiver.got == []
        docker("exec", cid, "rm", "/healthy")
        got = await receiver.wait_for(lambda g: len(g) >= 1)
        first = got[0]
        assert first.path == "/hook"
        assert first.signed_with(SECRET)
        assert not first.signed_with("another secret")
        alert = first.json()
        assert alert["id"] == first.delivery
        assert alert["rule_id"] == made["id"]
        assert alert["rule"] == made["name"]
        assert alert["state"] == "firing"
        assert alert["host"] == "local"
        assert alert["container"] == {"id": cid, "name": name}
        assert "unhealthy" in alert["reason"]
        assert "missing" in alert["reason"]
        assert set(alert) == {"id", "rule_id", "rule", "state", "host", "container", "reason"} | {
            "time"
        }

        docker("exec", cid, "touch", "/healthy")
        got = await receiver.wait_for(lambda g: len(g) >= 2)
        resolved = got[1].json()
        assert resolved["state"] == "resolved"
        assert resolved["id"] != alert["id"]
        assert got[1].signed_with(SECRET)
        await asyncio.sleep(2)
        assert len(receiver.got) == 2  # one per change, never one per check

        deliveries = (await c.get("/v1/alerts/deliveries", params={"rule_id": made["id"]})).json()
        assert [d["alert"]["state"] for d in deliveries] == ["resolved", "firing"]
        for d in deliveries:
            assert d["status"] == "delivered"
            assert [(a["attempt"], a["status"], a["code"]) for a in d["attempts"]] == [
                (1, "delivered", 200)
            ]


async def test_health_scope_by_label_reads_the_containers_labels(receiver, name):
    """A label scope matches the container's labels, not the event's other attributes
    (`name`, `image`), and not a container without the label."""
    async with app_for(receiver) as (_, c):
        body = rule(receiver, {"kind": "health", "status": ["unhealthy"]}, name)
        body["scope"] = {"labels": [f"mt.tier={name}"]}
        await create(c, body)
        # One without the label; one whose `name` attribute matches a label-looking scope.
        other = rule(receiver, {"kind": "health", "status": ["unhealthy"]}, name)
        other["name"] += " by name attribute"
        await create(c, {**other, "scope": {"labels": [f"name={name}-a"]}})
        failing = (
            "--health-cmd", "echo missing; exit 1", "--health-interval", "1s",
            "--health-retries", "1",
        )  # fmt: skip
        labelled = run_container(f"{name}-a", "sleep 300", "--label", f"mt.tier={name}", *failing)
        bare = run_container(f"{name}-b", "sleep 300", *failing)
        got = await receiver.wait_for(lambda g: len(g) >= 1)
        await asyncio.sleep(2.5)  # what else would come
        assert [d.json()["container"]["id"] for d in receiver.got] == [labelled]
        assert got[0].json()["rule"] == body["name"]
        assert "missing" in got[0].json()["reason"]
        docker("rm", "-f", labelled, bare)


async def test_die_with_exit_code_3(receiver, name):
    async with app_for(receiver) as (_, c):
        when = {"kind": "event", "action": ["die"], "exit_code_nonzero": True}
        await create(c, rule(receiver, when, f"{name}*"))
        run_container(f"{name}-ok", "exit 0")
        run_container(f"{name}-bad", "exit 3")
        got = await receiver.wait_for(lambda g: len(g) >= 1)
        await asyncio.sleep(1)
        assert len(receiver.got) == 1, [r.json() for r in receiver.got]
        alert = got[0].json()
        assert alert["container"]["name"] == f"{name}-bad"
        assert "exit code 3" in alert["reason"]
        assert alert["reason"].startswith("container die")


async def test_event_action_matched_exactly(receiver, name):
    """A health probe's `exec_die` (with its own exitCode) is not a `die`."""
    async with app_for(receiver) as (_, c):
        when = {"kind": "event", "action": ["die"], "exit_code_nonzero": True}
        await create(c, rule(receiver, when, name))
        cid = run_container(
            name, "sleep 300", "--health-cmd", "exit 1", "--health-interval", "1s"
        )  # every probe: exec_create, exec_start, exec_die exitCode 1
        await asyncio.sleep(3)
        assert receiver.got == []
        docker("kill", cid)
        got = await receiver.wait_for(lambda g: len(g) >= 1)
        assert "exit code 137" in got[0].json()["reason"]


async def test_log_lines_on_the_shared_hub(receiver, name):
    """Three log rules on one container are one engine follow (one hub opened)."""
    async with app_for(receiver) as (app, c):
        for word in ("boom", "bang", "nothing-matches-this"):
            body = rule(receiver, {"kind": "log", "pattern": rf"ERROR .*{word}"}, name)
            body["target"]["url"] = f"{receiver.url}/{word}"
            await create(c, body)
        run_container(
            name, "echo starting; echo 'ERROR it went boom'; echo 'ERROR bang' >&2; sleep 300"
        )
        await receiver.wait_for(lambda g: len(g) >= 2)
        await asyncio.sleep(1)
        assert sorted(r.path for r in receiver.got) == ["/bang", "/boom"]
        boom = receiver.alerts("/boom")[0]
        assert boom["reason"] == "stdout: ERROR it went boom"
        assert receiver.alerts("/bang")[0]["reason"] == "stderr: ERROR bang"
        assert app.state.hubs.opened["logs"] == 1
        # A viewer of the same logs shares it as well.
        r = await c.get(f"/v1/containers/{name}/logs", params={"tail": "1"})
        assert r.status_code == 200
        assert app.state.hubs.opened["logs"] == 1


async def test_log_rule_stream_filter(receiver, name):
    async with app_for(receiver) as (_, c):
        await create(
            c, rule(receiver, {"kind": "log", "pattern": "oops", "stream": "stderr"}, name)
        )
        run_container(name, "echo oops; sleep 1; echo oops >&2; sleep 300")
        got = await receiver.wait_for(lambda g: len(g) >= 1)
        await asyncio.sleep(1)
        assert [r.json()["reason"] for r in got] == ["stderr: oops"]


@pytest.mark.slow
async def test_stats_cpu_above_for_seconds(receiver, name):
    async with app_for(receiver) as (_, c):
        # Low: the machine may be busy (the loop then gets less than its half CPU).
        when = {"kind": "stats", "metric": "cpu_percent", "above": 2, "for": 2}
        await create(c, rule(receiver, when, name))
        cid = run_container(name, "while :; do :; done", "--cpus", "0.5")
        got = await receiver.wait_for(lambda g: len(g) >= 1, timeout=60)
        alert = got[0].json()
        assert alert["state"] == "firing"
        assert alert["reason"].startswith("cpu_percent ")
        assert "above 2 for" in alert["reason"]
        value = float(alert["reason"].split()[1])
        assert 2 < value <= 75  # a busy loop held to half a CPU
        docker("stop", "-t", "0", cid)
        got = await receiver.wait_for(lambda g: g[-1].json()["state"] == "resolved", timeout=60)
        # On a busy machine the loop may dip below the line: then it resolves and fires
        # again, but always in turn.
        states = [r.json()["state"] for r in got]
        assert states == ["firing", "resolved"] * (len(states) // 2)


async def test_throttle_per_rule_and_container(receiver, name):
    async with app_for(receiver) as (_, c):
        when = {"kind": "event", "action": ["die"]}
        body = rule(receiver, when, f"{name}*", throttle=3600)
        await create(c, body)
        a = run_container(f"{name}-a", "exit 1")
        docker("wait", a)
        docker("start", a)
        docker("wait", a)
        b = run_container(f"{name}-b", "exit 1")  # another container: its own throttle
        docker("wait", b)
        await receiver.wait_for(lambda g: len(g) >= 2)
        await asyncio.sleep(1.5)
        names = sorted(r.json()["container"]["name"] for r in receiver.got)
        assert names == [f"{name}-a", f"{name}-b"]


async def test_retries_with_the_same_id_until_delivered(receiver, name):
    async with app_for(receiver) as (_, c):
        made = await create(c, rule(receiver, {"kind": "event", "action": ["die"]}, name))
        receiver.mode = "fail"
        run_container(name, "exit 2")
        await receiver.wait_for(lambda g: len(g) >= 3)
        receiver.mode = "ok"
        got = await receiver.wait_for(lambda g: g[-1].headers and len(g) >= 4)
        assert len({r.delivery for r in got}) == 1
        assert len({r.body for r in got}) == 1  # the same bytes, the same signature
        for _ in range(50):
            deliveries = (
                await c.get("/v1/alerts/deliveries", params={"rule_id": made["id"]})
            ).json()
            if deliveries and deliveries[0]["status"] == "delivered":
                break
            await asyncio.sleep(0.1)
        (d,) = deliveries
        assert d["status"] == "delivered"
        codes = [a["code"] for a in d["attempts"]]
        assert codes[-1] == 200
        assert set(codes[:-1]) == {500}
        assert len(codes) == d["tries"] >= 4


async def test_redirect_elsewhere_is_not_followed(receiver, name):
    other = await Receiver().start()
    try:
        async with app_for(receiver, webhook_allow=[receiver.url + "/", other.url + "/"]) as (
            _,
            c,
        ):
            made = await create(c, rule(receiver, {"kind": "event", "action": ["die"]}, name))
            receiver.mode = "redirect"
            receiver.redirect_to = f"{other.url}/stolen"
            run_container(name, "exit 1")
            await receiver.wait_for(lambda g: len(g) >= 1)
            for _ in range(50):
                (d,) = (await c.get("/v1/alerts/deliveries", params={"rule_id": made["id"]})).json()
                if d["attempts"]:
                    break
                await asyncio.sleep(0.1)
            attempt = d["attempts"][0]
            assert attempt["status"] == "failed"
            assert attempt["code"] == 307
            assert "not followed" in attempt["error"]
            assert other.got == []
    finally:
        await other.stop()


async def test_redirect_on_the_same_origin_is_followed(receiver, name):
    async with app_for(receiver) as (_, c):
        await create(c, rule(receiver, {"kind": "event", "action": ["die"]}, name))
        receiver.mode = "redirect"
        receiver.redirect_to = "/moved"
        run_container(name, "exit 1")
        await receiver.wait_for(lambda g: len(g) >= 1)
        receiver.mode = "ok"
        got = await receiver.wait_for(lambda g: any(r.path == "/moved" for r in g))
        assert got[-1].signed_with(SECRET)


async def test_slow_receiver_times_out_and_is_tried_again(receiver, name):
    async with app_for(receiver, webhook_timeout=0.5) as (_, c):
        made = await create(c, rule(receiver, {"kind": "event", "action": ["die"]}, name))
        receiver.mode = "hang"
        run_container(name, "exit 1")
        await receiver.wait_for(lambda g: len(g) >= 2)
        (d,) = (await c.get("/v1/alerts/deliveries", params={"rule_id": made["id"]})).json()
        assert d["attempts"][0]["code"] is None
        assert "no answer within" in d["attempts"][0]["error"]


async def test_one_slot_sends_every_waiting_alert_in_turn(receiver, name):
    """With one try at a time, the alerts raised while it is taken wait in the outbox
    untaken; each is sent when the slot is free again: all delivered, each once."""
    async with app_for(receiver, webhook_concurrency=1, webhook_timeout=60) as (_, c):
        made = await create(c, rule(receiver, {"kind": "event", "action": ["die"]}, f"{name}-*"))
        receiver.mode = "hang"  # the first try holds the slot until released
        for i in range(4):
            run_container(f"{name}-{i}", "exit 1")
        await receiver.wait_for(lambda g: len(g) >= 1)
        params = {"rule_id": made["id"]}

        async def deliveries() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = (
                await c.get("/v1/alerts/deliveries", params=params)
            ).json()
            return found

        async with asyncio.timeout(30):
            while len(await deliveries()) < 4:  # noqa: ASYNC110 (the outbox: polled)
                await asyncio.sleep(0.1)
        assert len(receiver.got) == 1  # the others wait: one try at a time
        receiver.mode = "ok"
        receiver.release.set()
        await receiver.wait_for(lambda g: len(g) >= 4)
        await asyncio.sleep(1)
        sent = [r.delivery for r in receiver.got]
        assert len(sent) == len(set(sent)) == 4, sent
        async with asyncio.timeout(10):  # the last try's record is written after its answer
            while any(d["status"] != "delivered" for d in await deliveries()):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        done = await deliveries()
        assert sorted(d["id"] for d in done) == sorted(sent)
        assert [len(d["attempts"]) for d in done] == [1, 1, 1, 1]


async def test_rule_test_delivery_and_formats(receiver, name):
    async with app_for(receiver) as (_, c):
        ids = {}
        for fmt in ("json", "slack", "discord", "ntfy"):
            body = rule(receiver, {"kind": "health"}, name)
            body["target"].update(format=fmt, url=f"{receiver.url}/{fmt}")
            made = await create(c, body)
            r = await c.post(f"/v1/alerts/rules/{made['id']}/test")
            assert r.status_code == 202, r.text
            ids[fmt] = r.json()["id"]
        got = await receiver.wait_for(lambda g: len(g) >= 4)
        by_path = {r.path: r for r in got}
        for fmt, delivery in ids.items():
            assert by_path[f"/{fmt}"].delivery == delivery
            assert by_path[f"/{fmt}"].signed_with(SECRET)
        assert by_path["/json"].json()["reason"].startswith("test delivery")
        assert by_path["/slack"].json()["text"].startswith("[FIRING] rule for")
        assert by_path["/discord"].json()["content"].startswith("[FIRING] rule for")
        ntfy = by_path["/ntfy"]
        assert ntfy.body.decode().startswith("[FIRING] rule for")
        assert ntfy.headers["Title"].startswith("moorage: ")
        r = await c.post("/v1/alerts/rules/nope/test")
        assert r.status_code == 404


async def test_alerts_routes_are_admin_only():
    from app.security import ROLES, Role

    for op in ("alerts_rules_create", "alerts_rules_list", "alerts_deliveries_list"):
        assert ROLES[op] is Role.admin


def open_files(path: Path) -> int:
    """How many descriptors of this process are open on `path` (not its -wal / -shm)."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd) == str(path):
                count += 1
    return count


async def test_alerting_shares_the_audit_database_connection(receiver, name, tmp_path):
    db = tmp_path / "moorage.sqlite3"
    async with app_for(receiver, audit_db=str(db)) as (app, c):
        await create(c, rule(receiver, {"kind": "health"}, name))
        r = await c.get("/v1/alerts/deliveries")
        assert r.status_code == 200
        assert open_files(db) == 1  # the audit log's connection, alerting's tables on it
        assert app.state.alerts.store.db.audit is app.state.audit
