"""The dashboard on two hosts in a real browser: moorage with a hosts file naming the
shared engine (`local`) and a private engine (`pe`, scripts/private-engine.sh). The
hosts page shows both up, the containers table across hosts carries the host column,
a container on `pe` is opened and its logs followed; `pe` stopped is shown down live
while `local` keeps answering."""

from __future__ import annotations

from pathlib import Path

from tests.browser.ui_harness import Tokens, check_page, chromium, sign_in, ui_server
from tests.conftest import TEST_IMAGE, run_sleeper
from tests.engine_harness import PrivateEngine, private_engine  # noqa: F401


async def test_two_hosts_one_goes_down(
    private_engine: PrivateEngine,  # noqa: F811
    tmp_path: Path,
    tokens: Tokens,
    name: str,
) -> None:
    here, there = f"{name}-a", f"{name}-b"
    run_sleeper(TEST_IMAGE, here)
    private_engine.docker(
        "run", "-d", "--name", there, "--network", "none", TEST_IMAGE,
        "sh", "-c", "while true; do echo tick from pe; sleep 0.5; done",
    )  # fmt: skip
    hosts = tmp_path / "hosts.toml"
    hosts.write_text(
        '[[hosts]]\nname = "local"\nurl = "unix:///var/run/docker.sock"\ndefault = true\n\n'
        f'[[hosts]]\nname = "pe"\nurl = "{private_engine.url}"\n'
    )
    server = ui_server(tmp_path, tokens, MOORAGE_HOSTS_FILE=str(hosts)).start(wait_ready=True)
    try:
        async with chromium(server.url) as browser, browser.page() as page:
            await sign_in(page, server.url, tokens.operator)
            await page.get_by_role("link", name="Hosts", exact=True).click()
            await page.locator('tr[data-host="local"] .host-up').wait_for(timeout=30_000)
            await page.locator('tr[data-host="pe"] .host-up').wait_for(timeout=30_000)
            await check_page(page, "hosts-two-light")

            # Every host's containers in one table, each with its host.
            await page.goto(f"{server.url}/ui/?q={name}")
            await page.locator(f'tr[data-name="{here}"] .host-tag', has_text="local").wait_for(
                timeout=30_000
            )
            await page.locator(f'tr[data-name="{there}"] .host-tag', has_text="pe").wait_for(
                timeout=30_000
            )
            await check_page(page, "containers-hosts-light")

            # The container on the second host, and its logs followed.
            await page.locator(f'tr[data-name="{there}"]').get_by_role("link", name=there).click()
            await page.get_by_role("heading", name=there, exact=True).wait_for()
            await page.get_by_role("link", name="Logs", exact=True).click()
            log = page.get_by_role("log")
            await log.get_by_text("tick from pe").first.wait_for(timeout=30_000)
            before = await log.get_by_text("tick from pe").count()
            await log.get_by_text("tick from pe").nth(before).wait_for(timeout=30_000)

            # `pe` stops: the hosts page says so by itself, `local` stays up.
            await page.get_by_role("link", name="Hosts", exact=True).click()
            await page.locator('tr[data-host="pe"] .host-up').wait_for()
            private_engine.stop()
            await page.locator('tr[data-host="pe"] .host-down').wait_for(timeout=60_000)
            assert await page.locator('tr[data-host="local"] .host-up').count() == 1
            await check_page(page, "hosts-one-down-light")
            await page.goto(f"{server.url}/ui/?q={name}")
            await page.locator(f'tr[data-name="{here}"]').wait_for(timeout=30_000)
            assert await page.locator(f'tr[data-name="{there}"]').count() == 0
            await page.goto(f"{server.url}/ui/containers/{here}?host=local")
            await page.get_by_role("heading", name=here, exact=True).wait_for()
    finally:
        server.stop()
        private_engine.start()
        private_engine.docker("rm", "-f", there, check=False)
