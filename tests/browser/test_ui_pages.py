"""The run form, events, audit and stats in a real browser against a real moorage and
engine (Swarm and alerts: test_ui_swarm.py, test_ui_alerts.py). The run form's
container is checked on the engine; a refusal is shown beside the field the problem
document names, with nothing made; events made from outside the page appear in the
feed; the audit log shows a change; stats charts fill from the live stream."""

from __future__ import annotations

import json

import httpx

from tests.browser.ui_harness import check_page, chromium, served
from tests.conftest import RUN_ID, TEST_LABEL, LiveServer, docker, exists, inspect, run_sleeper

server = served("ui-pages")


async def test_run_a_container_from_the_form(server: LiveServer, image: str, name: str) -> None:
    async with chromium(server.url) as browser, browser.page() as page:
        await page.goto(f"{server.url}/ui/run")
        await page.get_by_label("Image", exact=True).fill(image)
        await page.get_by_label("Name", exact=True).fill(name)
        await page.get_by_label("Command", exact=True).fill("sleep 600")
        await page.get_by_label("Environment", exact=True).fill("GREETING=hello\nMODE=ui")
        await page.get_by_label("Restart policy", exact=True).select_option("unless-stopped")
        await page.get_by_label("Health check", exact=True).fill("true")
        await page.get_by_label("Check every (s)").fill("5")
        await page.get_by_label("Everything else").fill(
            json.dumps({"labels": {TEST_LABEL: RUN_ID}, "network": "none"})
        )
        await check_page(page, "run-light")
        await page.get_by_role("button", name="Create and start").click()
        # The container's own page opens.
        await page.get_by_role("heading", name=name).wait_for()
    got = inspect("container", name)
    assert got["State"]["Running"]
    assert {"GREETING=hello", "MODE=ui"} <= set(got["Config"]["Env"])
    assert got["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert got["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    assert got["Config"]["Labels"][TEST_LABEL] == RUN_ID


async def test_a_refused_field_is_named_and_nothing_is_made(
    server: LiveServer, image: str, name: str
) -> None:
    async with chromium(server.url) as browser, browser.page(dark=True) as page:
        await page.goto(f"{server.url}/ui/run")
        await page.get_by_label("Image", exact=True).fill(image)
        await page.get_by_label("Name", exact=True).fill(name)
        # Checked in the page: not host:container at all.
        await page.get_by_label("Ports", exact=True).fill("eighty")
        await page.get_by_role("button", name="Create and start").click()
        await page.locator("#run-ports-err").get_by_text('"eighty"').wait_for()
        # Checked by the API: a port out of range, named by the problem document.
        await page.get_by_label("Ports", exact=True).fill("70000:80")
        await page.get_by_role("button", name="Create and start").click()
        err = page.locator("#run-ports-err")
        await err.get_by_text("ports").wait_for()
        assert await page.get_by_label("Ports", exact=True).get_attribute("aria-invalid") == "true"
        # Bad JSON in the rest: named there.
        await page.get_by_label("Ports", exact=True).fill("")
        await page.get_by_label("Everything else").fill("{labels:")
        await page.get_by_role("button", name="Create and start").click()
        await page.locator("#run-extra-err").get_by_text("Not JSON").wait_for()
        await check_page(page, "run-errors-dark")
    assert not exists("container", name)


async def test_events_made_outside_the_page_appear(
    server: LiveServer, image: str, name: str
) -> None:
    async with chromium(server.url) as browser, browser.page() as page:
        await page.goto(f"{server.url}/ui/events?type=container&container={name}&since=now")
        await page.get_by_role("status").get_by_text("live").wait_for()
        run_sleeper(image, name)
        feed = page.get_by_role("list", name="Events, newest first")
        await feed.locator('li[data-action="start"]').get_by_text(name).wait_for()
        docker("stop", "-t", "0", name)
        await feed.locator('li[data-action="die"]').wait_for()
        # Nothing of other containers: the filter is the stream's.
        names = await feed.locator("li a").all_inner_texts()
        assert set(names) == {name}
        await check_page(page, "events-light")


async def test_the_audit_log_shows_a_change(server: LiveServer, name: str) -> None:
    vol = f"{name}-audited"
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        r = await client.post("/v1/volumes", json={"name": vol, "labels": {TEST_LABEL: RUN_ID}})
    assert r.status_code == 201, r.text
    async with chromium(server.url) as browser, browser.page() as page:
        await page.goto(f"{server.url}/ui/audit?action=volumes_create")
        row = page.locator(f'tr[data-action="volumes_create"][data-target="{vol}"]')
        await row.wait_for()
        await row.get_by_role("button").click()
        await page.get_by_text('"method": "POST"').wait_for()
        await check_page(page, "audit-light")
    docker("volume", "rm", vol)


async def test_stats_of_a_container_and_the_fleet(
    server: LiveServer, image: str, name: str
) -> None:
    run_sleeper(image, name)
    async with chromium(server.url) as browser, browser.page() as page:
        await page.goto(f"{server.url}/ui/containers/{name}/stats")
        # Two samples draw a line (the rates need two).
        await page.locator("[data-samples='3']").wait_for(timeout=60_000)
        assert await page.locator("figure.chart svg polyline").count() == 6
        await check_page(page, "stats-container-light")
        await page.goto(f"{server.url}/ui/stats")
        await page.locator(f'tr[data-name="{name}"]').wait_for(timeout=60_000)
        await check_page(page, "stats-fleet-light")
