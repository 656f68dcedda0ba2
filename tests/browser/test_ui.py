"""The dashboard in a real browser against a real moorage and engine: sign in with a
token, see a container made from outside the page appear, stop it from the page (with
confirmation) and see the engine agree. axe-core finds nothing on each page; every
page is photographed (light, dark, phone) under ui/screenshots/."""

from __future__ import annotations

import pytest

from tests.browser.ui_harness import Browser, Tokens, check_page, served, sign_in
from tests.conftest import RUN_ID, TEST_LABEL, LiveServer, docker, inspect, run_sleeper
from tests.sse import run_container

server = served("ui", signed_in=True)


async def test_sign_in_then_a_container_appears_and_is_stopped(
    server: LiveServer, browser: Browser, tokens: Tokens, image: str, name: str
) -> None:
    async with browser.page() as page:
        await page.goto(server.url + "/")
        assert page.url == server.url + "/ui/"
        await page.get_by_label("API token").wait_for()
        await check_page(page)
        await sign_in(page, server.url, tokens.operator)
        # Made from outside the page, after it opened: the events stream brings it in.
        run_sleeper(image, name)
        row = page.locator(f'tr[data-name="{name}"]')
        await row.get_by_text("running").wait_for()
        await check_page(page)
        await row.get_by_role("button", name=f"Stop {name}").click()
        dialog = page.get_by_role("dialog")
        await dialog.get_by_text(f"Stop {name}?").wait_for()
        await dialog.get_by_role("button", name="Stop").click()
        await row.get_by_text("exited").wait_for(timeout=30_000)
    assert inspect("container", name)["State"]["Status"] == "exited"


async def test_a_viewer_is_not_offered_lifecycle_buttons(
    server: LiveServer, browser: Browser, tokens: Tokens, image: str, name: str
) -> None:
    run_sleeper(image, name)
    async with browser.page() as page:
        await sign_in(page, server.url, tokens.viewer)
        row = page.locator(f'tr[data-name="{name}"]')
        await row.wait_for()
        assert await row.get_by_role("button").count() == 0
        assert await row.get_by_role("link", name="Logs").count() == 1


@pytest.mark.parametrize("look", ["light", "dark", "phone"])
async def test_every_page_photographed_and_checked(
    server: LiveServer, browser: Browser, tokens: Tokens, image: str, name: str, look: str
) -> None:
    """Each page in each look: axe-core finds nothing, and its screenshot is kept."""
    run_sleeper(
        image, name, "-e", "API_SECRET=hunter2", "--health-cmd", "exit 1",
        "--health-interval", "1s", "--health-retries", "1",
        "--label", f"com.docker.compose.project={name}-shop",
    )  # fmt: skip
    logger = run_container(
        f"{name}-logs",
        "echo 'INFO starting up'; echo 'level=warn cache is cold' >&2; "
        "echo '{\"level\":\"error\",\"msg\":\"payment failed\",\"code\":502}'; "
        "printf '\\033[32mOK\\033[0m health probe answered\\n'; "
        "echo 'DEBUG pool size 4'; sleep 600",
        "--label", f"com.docker.compose.project={name}-shop",
    )  # fmt: skip
    async with browser.page(dark=look == "dark", phone=look == "phone") as page:
        await page.goto(server.url + "/ui/")
        await page.get_by_label("API token").wait_for()
        await check_page(page, f"login-{look}")
        await sign_in(page, server.url, tokens.admin)
        # Only this run's containers (the engine is shared): filtered by its label.
        await page.goto(f"{server.url}/ui/?q={RUN_ID}&group=compose")
        await page.locator(f'tr[data-name="{name}"] .health-unhealthy').wait_for(timeout=30_000)
        await check_page(page, f"containers-{look}")
        await page.goto(f"{server.url}/ui/containers/{name}")
        await page.get_by_role("heading", name="Environment").wait_for()
        await page.get_by_role("cell", name="1", exact=True).first.wait_for()
        await check_page(page, f"container-{look}")
        await page.goto(f"{server.url}/ui/logs?c={logger}")
        await page.get_by_text("pool size 4").wait_for()
        await page.get_by_role("button", name="Expand JSON").click()
        await check_page(page, f"logs-{look}")
        await page.goto(f"{server.url}/ui/logs?project={name}-shop&q=e")
        await (
            page.get_by_role("group", name="Containers in this view")
            .get_by_role("button", name=name, exact=False)
            .first.wait_for()
        )
        await page.get_by_text("payment failed").wait_for()
        await check_page(page, f"logs-merged-{look}")
        await page.goto(f"{server.url}/ui/hosts")
        await page.get_by_role("heading", name="Hosts").wait_for()
        await page.wait_for_timeout(300)
        await check_page(page, f"hosts-{look}")


async def test_an_unhealthy_container_its_page_and_the_finder(
    server: LiveServer, browser: Browser, tokens: Tokens, image: str, name: str
) -> None:
    run_sleeper(
        image, name, "-e", "API_SECRET=hunter2", "--health-cmd", "exit 1",
        "--health-interval", "1s", "--health-retries", "1",
    )  # fmt: skip
    async with browser.page() as page:
        await sign_in(page, server.url, tokens.viewer)
        row = page.locator(f'tr[data-name="{name}"]')
        # Live from the health stream: no reload.
        await row.locator(".badge.health-unhealthy").wait_for(timeout=30_000)
        # `/` is the filter; Ctrl-K the finder: type, Enter, the container's page.
        await page.keyboard.press("/")
        assert await page.evaluate("() => document.activeElement.id") == "filter"
        await page.keyboard.press("Escape")
        await page.keyboard.press("Control+k")
        finder = page.get_by_role("combobox", name="Find a container or page")
        await finder.fill(name)
        await page.get_by_role("option", name=name).first.wait_for()
        await page.keyboard.press("Enter")
        await page.get_by_role("heading", name=name, exact=True).wait_for()
        await page.get_by_role("heading", name="Health", exact=True).wait_for()
        await page.get_by_role("cell", name="1", exact=True).first.wait_for()  # exit codes
        # The environment's values are hidden until asked for.
        assert await page.get_by_text("hunter2").count() == 0
        await page.get_by_role("button", name="Show value of API_SECRET").click()
        await page.get_by_text("hunter2").wait_for()
        await page.get_by_role("button", name="Hide value of API_SECRET").click()
        await page.get_by_role("cell", name="sleep 600").first.wait_for()  # processes
        await check_page(page)
        # A viewer is offered no lifecycle button here either.
        assert await page.get_by_role("button", name="Stop").count() == 0


async def test_selected_containers_in_one_merged_view(
    server: LiveServer, browser: Browser, tokens: Tokens, image: str, name: str
) -> None:
    names = [run_sleeper(image, f"{name}-{k}") for k in range(2)]
    async with browser.page() as page:
        await sign_in(page, server.url, tokens.admin)
        for n in names:
            await page.get_by_role("checkbox", name=f"Select {n}").check()
        await page.get_by_role("link", name="Logs of 2 selected").click()
        group = page.get_by_role("group", name="Containers in this view")
        for n in names:
            await group.get_by_role("button", name=n).wait_for()


async def test_filter_sort_and_group_the_table(
    server: LiveServer, browser: Browser, tokens: Tokens, image: str, name: str
) -> None:
    for k, project in ((0, "blue"), (1, "blue"), (2, "green")):
        run_sleeper(image, f"{name}-{k}", "--label", f"com.docker.compose.project={name}-{project}")
    # A published port (loopback only) becomes a link.
    docker(
        "run", "-d", "--label", f"{TEST_LABEL}={RUN_ID}", "-p", "127.0.0.1::8080",
        "--name", f"{name}-web", image, "sleep", "600",
    )  # fmt: skip
    port = docker("port", f"{name}-web", "8080/tcp").split(":")[-1].strip()
    async with browser.page() as page:
        await sign_in(page, server.url, tokens.viewer)
        await page.locator(f'tr[data-name="{name}-web"]').wait_for()
        link = page.locator(f'tr[data-name="{name}-web"]').get_by_role("link", name="8080")
        assert await link.get_attribute("href") == f"http://127.0.0.1:{port}/"
        # Matches labels too: the three of the two compose projects, not the web one.
        await page.get_by_label("Filter containers").fill(f"project={name}")
        rows = page.locator("tbody tr[data-name]")
        await page.wait_for_function(
            "() => document.querySelectorAll('tbody tr[data-name]').length === 3"
        )
        await page.get_by_role("button", name="Name").click()  # ascending → descending
        await page.wait_for_function(
            "(n) => document.querySelector('tbody tr[data-name]').dataset.name === n + '-2'",
            arg=name,
        )
        assert await rows.evaluate_all("rs => rs.map(r => r.dataset.name)") == [
            f"{name}-2",
            f"{name}-1",
            f"{name}-0",
        ]
        await page.get_by_label("Group by").select_option("compose")
        groups = page.locator("tr.group th")
        await groups.first.wait_for()
        assert [t.split(" (")[0] for t in await groups.all_inner_texts()] == [
            f"{name}-blue",
            f"{name}-green",
        ]
        # Filter, sort and grouping are in the URL: the view can be shared.
        query = await page.evaluate("() => location.search")
        assert "group=compose" in query
        assert "desc=1" in query
        # The keyboard: j / k move between containers, l opens the logs of the current one.
        await page.locator("body").click(position={"x": 5, "y": 300})
        for key in "jjk":
            await page.keyboard.press(key)
        current = await page.evaluate("() => document.activeElement.textContent")
        await page.keyboard.press("l")
        await page.get_by_role("log", name=f"Log lines of {current}").wait_for()


async def test_docs_render_with_nothing_from_elsewhere(
    server: LiveServer, browser: Browser
) -> None:
    async with browser.page() as page:
        await page.goto(server.url + "/docs")
        await page.locator(".swagger-ui .info .title").get_by_text("moorage").wait_for()
        await page.get_by_text("/v1/containers/{id}/logs/stream").first.wait_for()
    # The browser fixture fails the test on any request to another origin.
