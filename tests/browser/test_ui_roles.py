"""What a role cannot do is not offered on issue 19's pages (the API refuses anyway):
a viewer gets no pull, create, remove, run, audit or terminal, and opening the terminal
page by its URL starts nothing in the container; an operator pulls and creates but
does not build, push, prune, run or open a terminal."""

from __future__ import annotations

from tests.browser.ui_harness import Browser, Tokens, check_page, served, sign_in
from tests.conftest import LiveServer, inspect, run_sleeper

server = served("ui-roles", signed_in=True)


async def test_a_viewer_is_offered_no_changes(
    server: LiveServer, browser: Browser, tokens: Tokens, image: str, name: str
) -> None:
    run_sleeper(image, name)
    async with browser.page(phone=True) as page:
        await sign_in(page, server.url, tokens.viewer)
        nav = page.get_by_role("navigation", name="Main")
        assert await nav.get_by_role("link", name="Images").count() == 1
        assert await nav.get_by_role("link", name="Run").count() == 0
        assert await nav.get_by_role("link", name="Audit").count() == 0

        await nav.get_by_role("link", name="Images").click()
        await page.locator("tr[data-image]").first.wait_for()
        assert await page.get_by_role("heading", name="Pull").count() == 0
        assert await page.get_by_role("heading", name="Build").count() == 0
        assert await page.locator("tr[data-image] button").count() == 0
        await check_page(page, "images-viewer-phone")

        for what in ("volumes", "networks"):
            await nav.get_by_role("link", name=what.capitalize()).click()
            await page.get_by_role("heading", name=what.capitalize(), exact=True).wait_for()
            assert await page.get_by_role("button", name=f"Create {what[:-1]}").count() == 0
            assert await page.get_by_role("button", name="Remove").count() == 0
            assert await page.get_by_role("button", name="Prune", exact=False).count() == 0
        await check_page(page, "networks-viewer-phone")

        await page.goto(f"{server.url}/ui/containers/{name}/terminal")
        await page.get_by_text("A terminal needs the admin role").wait_for()
        await page.goto(f"{server.url}/ui/run")
        await page.get_by_text("Creating containers needs the admin role").wait_for()
        await page.goto(f"{server.url}/ui/audit")
        await page.get_by_text("The audit log is for admins").wait_for()
    # Nothing was started in the container by the terminal page.
    assert not inspect("container", name)["ExecIDs"]


async def test_an_operator_pulls_but_does_not_build_or_run(
    server: LiveServer, browser: Browser, tokens: Tokens
) -> None:
    async with browser.page() as page:
        await sign_in(page, server.url, tokens.operator)
        await page.goto(f"{server.url}/ui/images")
        await page.get_by_role("heading", name="Pull").wait_for()
        assert await page.get_by_role("heading", name="Build").count() == 0
        assert await page.get_by_role("button", name="Push", exact=False).count() == 0
        assert await page.get_by_role("button", name="Prune dangling…").count() == 0
        await page.goto(f"{server.url}/ui/volumes")
        await page.get_by_role("button", name="Create volume").wait_for()
        assert await page.get_by_role("button", name="Prune unused volumes…").count() == 0
