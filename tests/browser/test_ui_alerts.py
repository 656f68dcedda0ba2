"""The Alerts page in a real browser against moorage and the shared engine, with the
local webhook receiver (tests/alert_receiver.py): a rule added in the editor (a refused
URL shown on its field first, nothing stored), a container dying on the engine, the
delivery arriving signed at the receiver, the live banner on another page, the
delivery and its try in the list, "send test"; every kind of rule in the editor, a bad
pattern named on its field; a viewer offered nothing. axe-core clean, photographed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.alert_receiver import Receiver
from tests.browser.ui_harness import Tokens, check_page, chromium, sign_in, ui_server
from tests.conftest import RUN_ID, TEST_IMAGE, TEST_LABEL, LiveServer, docker, free_port

SECRET = "ui-s3cret"


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, tokens: Tokens, port: int
) -> Iterator[LiveServer]:
    allow = json.dumps([f"http://127.0.0.1:{port}/"])
    s = ui_server(
        tmp_path_factory.mktemp("ui-alerts"),
        tokens,
        MOORAGE_WEBHOOK_ALLOW=allow,
        MOORAGE_WEBHOOK_BACKOFF_BASE="0.2",
    ).start(wait_ready=True)
    yield s
    s.stop()


async def stored_rules(page: Any) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = await page.evaluate(
        "async () => (await fetch('/v1/alerts/rules')).json()"
    )
    return rules


async def test_a_rule_from_the_editor_delivers_and_shows(
    server: LiveServer, tokens: Tokens, port: int, name: str
) -> None:
    receiver = await Receiver(port=port).start()
    rule = f"dies {name}"
    try:
        async with chromium(server.url) as browser, browser.page() as page:
            await sign_in(page, server.url, tokens.admin)
            await page.goto(f"{server.url}/ui/alerts")
            await page.get_by_role("button", name="New rule").click()
            await page.get_by_label("Rule name").fill(rule)
            await page.get_by_label("When").select_option("event")
            await page.get_by_label("Actions").fill("die")
            await page.get_by_label("Container names").fill(name)
            await page.get_by_label("Signing secret").fill(SECRET)
            # A destination outside MOORAGE_WEBHOOK_ALLOW: refused on its field, nothing kept.
            await page.get_by_label("Webhook URL").fill("http://127.0.0.1:1/elsewhere")
            await page.get_by_role("button", name="Add rule").click()
            err = page.locator("#rule-target-url-err")
            await err.wait_for()
            assert "MOORAGE_WEBHOOK_ALLOW" in await err.inner_text()
            assert await page.get_by_label("Webhook URL").get_attribute("aria-invalid") == "true"
            assert await stored_rules(page) == []
            await check_page(page, "alerts-editor-error-light")
            await page.get_by_label("Webhook URL").fill(f"{receiver.url}/hook")
            await page.get_by_role("button", name="Add rule").click()
            await page.locator(f'tr[data-rule="{rule}"]').wait_for()
            stored = await stored_rules(page)
            assert [r["name"] for r in stored] == [rule]
            assert stored[0]["target"]["has_secret"] is True
            assert "secret" not in json.dumps(stored[0]["target"]).replace("has_secret", "")

            # Another page: the banner's stream is open there before the container dies.
            async with page.expect_response(lambda r: "/v1/alerts/stream" in r.url):
                await page.goto(f"{server.url}/ui/")
            # Detached: the CLI returns once it started (on a loaded engine a foreground
            # run can outlast the CLI's timeout); the die comes a moment later.
            docker(
                "run", "-d", "--name", name, "--network", "none", "--label",
                f"{TEST_LABEL}={RUN_ID}", TEST_IMAGE, "sh", "-c", "sleep 1; exit 3",
            )  # fmt: skip
            got = await receiver.wait_for(lambda g: any(r.path == "/hook" for r in g), timeout=120)
            hook = next(r for r in got if r.path == "/hook")
            assert hook.signed_with(SECRET)
            assert hook.json()["container"]["name"] == name
            assert hook.json()["rule"] == rule
            banner = page.locator(f'.alert-banner [data-alert="{rule}"]')
            await banner.wait_for(timeout=30_000)
            assert name in await banner.inner_text()
            await check_page(page, "alert-banner-light")

            # The delivery, delivered on its first try with the receiver's 200.
            await page.get_by_role("link", name="All alerts").click()
            delivered = page.locator('tr[data-delivery][data-status="delivered"]')
            await delivered.first.wait_for(timeout=30_000)
            tried = delivered.first.locator('li[data-try="delivered"]')
            assert " 200 " in await tried.inner_text()
            # Send test: one more delivery, to the receiver and in the list.
            await page.get_by_role("button", name=f"Send test of {rule}").click()
            await receiver.wait_for(lambda g: sum(r.path == "/hook" for r in g) >= 2, timeout=30)
            await delivered.nth(1).wait_for(timeout=30_000)
            await check_page(page, "alerts-light")
    finally:
        await receiver.stop()


async def test_every_kind_in_the_editor(server: LiveServer, tokens: Tokens, port: int) -> None:
    url = f"http://127.0.0.1:{port}/kinds"
    async with chromium(server.url) as browser, browser.page(dark=True) as page:
        await sign_in(page, server.url, tokens.admin)
        await page.goto(f"{server.url}/ui/alerts")
        # A pattern that is not a regular expression: named on the Pattern field.
        await page.get_by_role("button", name="New rule").click()
        await page.get_by_label("Rule name").fill("kind log")
        await page.get_by_label("When").select_option("log")
        await page.get_by_label("Pattern").fill("(unclosed")
        await page.get_by_label("Webhook URL").fill(url)
        await page.get_by_role("button", name="Add rule").click()
        await page.locator("#rule-when-pattern-err").wait_for()
        assert "regular expression" in await page.locator("#rule-when-pattern-err").inner_text()
        assert all(r["name"] != "kind log" for r in await stored_rules(page))
        await check_page(page, "alerts-editor-dark")
        await page.get_by_label("Pattern").fill("ERROR|panic")
        await page.get_by_label("Stream").select_option("stderr")
        await page.get_by_role("button", name="Add rule").click()
        await page.locator('tr[data-rule="kind log"]').wait_for()

        async def add(rule: str, kind: str, fill: dict[str, str], checks: list[str] = []) -> None:  # noqa: B006
            await page.get_by_role("button", name="New rule").click()
            await page.get_by_label("Rule name").fill(rule)
            await page.get_by_label("When").select_option(kind)
            for label, value in fill.items():
                if label in ("Metric", "Format"):
                    await page.get_by_label(label, exact=True).select_option(value)
                else:
                    await page.get_by_label(label, exact=True).fill(value)
            for box in checks:
                await page.get_by_role("checkbox", name=box, exact=True).click()
            await page.get_by_label("Webhook URL").fill(url)
            await page.get_by_role("button", name="Add rule").click()
            await page.locator(f'tr[data-rule="{rule}"]').wait_for()

        await add("kind health", "health", {}, ["starting"])
        await add("kind event", "event", {"Actions": "oom, kill"}, ["Only a non-zero exit code"])
        await add(
            "kind stats", "stats", {"Metric": "memory_percent", "Above (%)": "80", "For (s)": "30"}
        )
        await add("kind host", "host", {"Format": "slack", "Throttle (s)": "60"}, ["connecting"])
        rules = {r["name"]: r for r in await stored_rules(page)}
        assert rules["kind log"]["when"] == {
            "kind": "log",
            "pattern": "ERROR|panic",
            "stream": "stderr",
        }
        assert rules["kind health"]["when"]["status"] == ["unhealthy", "starting"]
        assert rules["kind event"]["when"] == {
            "kind": "event", "type": "container", "action": ["oom", "kill"],
            "exit_code_nonzero": True,
        }  # fmt: skip
        assert rules["kind stats"]["when"] == {
            "kind": "stats", "metric": "memory_percent", "above": 80, "for": 30,
        }  # fmt: skip
        assert rules["kind host"]["when"]["state"] == ["down", "connecting"]
        assert rules["kind host"]["target"]["format"] == "slack"
        assert rules["kind host"]["throttle"] == 60
        # An edit keeps what is not changed (the form is filled from the rule).
        await page.get_by_role("button", name="Edit kind stats").click()
        assert await page.get_by_label("Above (%)").input_value() == "80"
        await page.get_by_label("For (s)").fill("45")
        await page.get_by_role("button", name="Save rule").click()
        await page.get_by_text("Saved rule kind stats").wait_for()
        rules = {r["name"]: r for r in await stored_rules(page)}
        assert rules["kind stats"]["when"]["for"] == 45
        assert rules["kind stats"]["when"]["metric"] == "memory_percent"
        await check_page(page, "alerts-rules-dark")
        for r in rules.values():
            await page.evaluate(
                "async ([id, csrf]) => fetch(`/v1/alerts/rules/${id}`, {method: 'DELETE',"
                " headers: {'X-CSRF-Token': csrf}})",
                [
                    r["id"],
                    await page.evaluate(
                        "async () => (await (await fetch('/v1/auth/whoami')).json()).csrf_token"
                    ),
                ],
            )


async def test_a_viewer_sees_no_alerts(server: LiveServer, tokens: Tokens) -> None:
    async with chromium(server.url) as browser, browser.page() as page:
        await sign_in(page, server.url, tokens.viewer)
        nav = page.get_by_role("navigation", name="Main")
        assert await nav.get_by_role("link", name="Alerts").count() == 0
        await page.goto(f"{server.url}/ui/alerts")
        await page.get_by_text("need the admin role").wait_for()
        assert await page.get_by_role("button").filter(has_text="rule").count() == 0
        assert await page.locator(".alert-banner").count() == 0
        await check_page(page, "alerts-viewer-light")
