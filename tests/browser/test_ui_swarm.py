"""The Swarm pages in a real browser against moorage on the two-node swarm of
scripts/swarm-up.sh (with the shared engine, outside any swarm, as a second host):
scale a service and see the replica count reach the target, roll it back, drain a
node, read the service's merged logs in the log viewer, a viewer offered no control
(and the API refusing what the page does not offer, nothing changed), the message on a
host that is not a manager; axe-core clean and photographed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.ui_harness import Tokens, check_page, chromium, sign_in, ui_server
from tests.conftest import TEST_IMAGE, LiveServer, SwarmNodes


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, swarm_nodes: SwarmNodes, tokens: Tokens
) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("ui-swarm")
    hosts = tmp / "hosts.toml"
    hosts.write_text(
        f'[[hosts]]\nname = "swarm"\nurl = "{swarm_nodes.manager}"\ndefault = true\n\n'
        '[[hosts]]\nname = "local"\nurl = "unix:///var/run/docker.sock"\n'
    )
    s = ui_server(tmp, tokens, MOORAGE_HOSTS_FILE=str(hosts)).start(wait_ready=True)
    yield s
    s.stop()


@pytest.fixture
def service(swarm_nodes: SwarmNodes) -> Iterator[str]:
    """A one-replica service whose tasks each say their slot every half second."""
    name = f"ui-sw-{uuid.uuid4().hex[:6]}"
    swarm_nodes.docker(
        "manager", "service", "create", "--detach", "--no-resolve-image", "--name", name,
        "--replicas", "1", "--endpoint-mode", "dnsrr", "--env", "SLOT={{.Task.Slot}}",
        TEST_IMAGE, "sh", "-c", 'while true; do echo "hello from task $SLOT"; sleep 0.5; done',
    )  # fmt: skip
    yield name
    swarm_nodes.docker("manager", "service", "rm", name, check=False)


def engine_service(nodes: SwarmNodes, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(nodes.docker("manager", "service", "inspect", name))[0]
    return doc


def replicas(nodes: SwarmNodes, name: str) -> int:
    return int(engine_service(nodes, name)["Spec"]["Mode"]["Replicated"]["Replicas"])


def row(page: Any, name: str) -> Any:
    return page.locator(f'tr[data-service="{name}"]')


async def test_scale_roll_back_and_drain(
    server: LiveServer, tokens: Tokens, swarm_nodes: SwarmNodes, service: str
) -> None:
    async with chromium(server.url) as browser, browser.page() as page:
        await sign_in(page, server.url, tokens.admin)
        await page.goto(f"{server.url}/ui/swarm")
        await row(page, service).locator('[data-replicas="1/1"]').wait_for(timeout=60_000)
        # Scale to 3: the count follows the tasks as they start on both nodes.
        await page.get_by_role("button", name=f"Scale {service}").click()
        await page.get_by_label("Replicas", exact=True).fill("3")
        await page.get_by_role("button", name="Scale", exact=True).click()
        await row(page, service).locator('[data-replicas="3/3"]').wait_for(timeout=90_000)
        assert replicas(swarm_nodes, service) == 3
        await check_page(page, "swarm-light")
        # Roll back: to the spec before the scale, one replica.
        await page.get_by_role("button", name=f"Roll back {service}").click()
        await page.get_by_role("button", name="Roll back", exact=True).click()
        await row(page, service).locator('[data-replicas="1/1"]').wait_for(timeout=90_000)
        assert replicas(swarm_nodes, service) == 1
        # Drain the worker: the engine says so, and the page too.
        worker = page.locator('tr[data-node="swarm-worker"]')
        await worker.get_by_role("button", name="drain").click()
        await worker.locator('[data-availability="drain"]').wait_for(timeout=30_000)
        got = json.loads(swarm_nodes.docker("manager", "node", "inspect", "swarm-worker"))[0]
        assert got["Spec"]["Availability"] == "drain"
        await worker.get_by_role("button", name="active").click()
        await worker.locator('[data-availability="active"]').wait_for(timeout=30_000)
    got = json.loads(swarm_nodes.docker("manager", "node", "inspect", "swarm-worker"))[0]
    assert got["Spec"]["Availability"] == "active"


async def test_service_tasks_and_merged_logs(
    server: LiveServer, tokens: Tokens, swarm_nodes: SwarmNodes, service: str
) -> None:
    swarm_nodes.docker("manager", "service", "scale", "--detach", f"{service}=2")
    async with chromium(server.url) as browser, browser.page(dark=True) as page:
        await sign_in(page, server.url, tokens.operator)
        await page.goto(f"{server.url}/ui/swarm")
        await row(page, service).get_by_role("link", name=service).click()
        await page.get_by_role("heading", name=service).wait_for()
        await page.locator('[data-replicas="2/2"]').wait_for(timeout=90_000)
        await page.locator('tr[data-task][data-state="running"]').nth(1).wait_for(timeout=30_000)
        await check_page(page, "service-dark")
        await page.get_by_role("link", name="Logs of every task").click()
        log = page.get_by_role("log")
        # Lines of both tasks, merged in one view of the log viewer.
        await log.get_by_text("hello from task 1").first.wait_for(timeout=60_000)
        await log.get_by_text("hello from task 2").first.wait_for(timeout=60_000)
        await check_page(page, "service-logs-dark")


async def test_a_viewer_gets_no_controls_and_the_api_refuses(
    server: LiveServer, tokens: Tokens, swarm_nodes: SwarmNodes, service: str
) -> None:
    async with chromium(server.url) as browser, browser.page() as page:
        await sign_in(page, server.url, tokens.viewer)
        await page.goto(f"{server.url}/ui/swarm")
        await row(page, service).wait_for(timeout=60_000)
        await page.locator('tr[data-node="swarm-worker"]').wait_for()
        for name in (
            "Scale",
            "Roll back",
            "Redeploy",
            "Remove",
            "drain",
            "Create service",
            "Create secret",
        ):
            assert await page.get_by_role("button", name=name).count() == 0, name
        assert await page.locator("main form").count() == 0
        await check_page(page, "swarm-viewer-light")
        # What the page does not offer, the API refuses: and nothing changes.
        status = await page.evaluate(
            "async (id) => (await fetch(`/v1/services/${id}/scale`, {method: 'POST',"
            " headers: {'content-type': 'application/json'}, body: '{\"replicas\": 4}'})).status",
            service,
        )
        assert status in (403, 401)
    assert replicas(swarm_nodes, service) == 1


async def test_a_host_outside_a_swarm_says_so(server: LiveServer, tokens: Tokens) -> None:
    async with chromium(server.url) as browser, browser.page() as page:
        await sign_in(page, server.url, tokens.viewer)
        await page.goto(f"{server.url}/ui/swarm?host=local")
        await page.locator("[data-not-manager]").wait_for(timeout=30_000)
        assert "not a Swarm manager" in await page.locator("[data-not-manager]").inner_text()
        # The host picker is there to go to the manager.
        await page.get_by_label("Host").select_option("swarm")
        await page.get_by_role("heading", name="Nodes").wait_for(timeout=30_000)
        await check_page(page, "swarm-not-manager-light")
