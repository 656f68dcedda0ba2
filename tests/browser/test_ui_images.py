"""The images page in a real browser against a real moorage and engine: pull from the
local registry (scripts/registry-up.sh, with credentials) and watch every layer's
progress reach done; build from a typed Dockerfile with its log live; tag and remove
from the page, the engine agreeing each time."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.browser.ui_harness import check_page, chromium, served
from tests.conftest import RUN_ID, TEST_LABEL, LiveServer, docker, exists, inspect, rmi
from tests.test_registry import PASSWORD, REGISTRY, USER

# the local registry, started when it is not up (an autouse fixture)
from tests.test_registry import registry as registry

server = served("ui-images")


@pytest.fixture
def pushed(server: LiveServer, image: str) -> Iterator[str]:
    """An image with a layer of its own (4 MiB, random) on the local registry, and not
    on the engine: its pull downloads that layer, with progress."""
    repo = f"{REGISTRY}/mt-ui-{uuid.uuid4().hex[:8]}/bb"
    dockerfile = f"FROM {image}\nRUN dd if=/dev/urandom of=/blob bs=1024 count=4096\n"
    subprocess.run(
        ["docker", "build", "-q", "--label", f"{TEST_LABEL}={RUN_ID}", "-t", f"{repo}:1", "-"],
        input=dockerfile, text=True, capture_output=True, check=True, timeout=300,
    )  # fmt: skip
    r = httpx.post(
        server.url + "/v1/images/push",
        json={"repository": repo, "tag": "1", "auth": {"username": USER, "password": PASSWORD}},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    rmi(f"{repo}:1")
    yield f"{repo}:1"
    rmi(f"{repo}:1")


async def test_pull_from_the_registry_with_live_progress(server: LiveServer, pushed: str) -> None:
    async with chromium(server.url) as browser, browser.page() as page:
        await page.goto(f"{server.url}/ui/images")
        await page.get_by_role("heading", name="Images", exact=True).wait_for()
        await page.get_by_text("Registry credentials").click()
        await page.get_by_label("User").fill(USER)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_label("Image to pull").fill(pushed)
        await page.get_by_role("button", name="Pull", exact=True).click()
        await (
            page.get_by_role("status")
            .get_by_text(f"Pulled {pushed}")
            .first.wait_for(timeout=120_000)
        )
        bars = page.get_by_role("group", name="Pull progress").locator("progress")
        # The layer of its own was downloaded (the base layer may be there already).
        assert await bars.count() >= 1
        # Every layer's bar is full once the pull is done.
        full = await bars.evaluate_all("bs => bs.every(b => b.value === b.max)")
        assert full
        # The list follows the engine's image events: the pulled tag is there.
        await page.locator(f'tr[data-image="{pushed}"]').wait_for()
        await check_page(page, "images-light")
    assert exists("image", pushed)


def build_and_push(server: LiveServer, base: str, ref: str, content: str) -> None:
    dockerfile = f"FROM {base}\nRUN echo {content} > /version\n"
    subprocess.run(
        ["docker", "build", "-q", "--label", f"{TEST_LABEL}={RUN_ID}", "-t", ref, "-"],
        input=dockerfile, text=True, capture_output=True, check=True, timeout=300,
    )  # fmt: skip
    repo, tag = ref.rsplit(":", 1)
    r = httpx.post(
        server.url + "/v1/images/push",
        json={"repository": repo, "tag": tag, "auth": {"username": USER, "password": PASSWORD}},
        timeout=120,
    )
    assert r.status_code == 200, r.text


async def test_update_available_then_recreate(server: LiveServer, image: str, name: str) -> None:
    ref = f"{REGISTRY}/mt-ui-upd-{uuid.uuid4().hex[:8]}/bb:1"
    await asyncio.to_thread(build_and_push, server, image, ref, "one")
    try:
        docker(
            "run", "-d", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}",
            "--name", name, ref, "sleep", "600",
        )  # fmt: skip
        old_image = inspect("container", name)["Image"]
        # A newer image behind the same tag, on the registry.
        await asyncio.to_thread(build_and_push, server, image, ref, "two")
        async with chromium(server.url) as browser, browser.page() as page:
            await page.goto(f"{server.url}/ui/images")
            await page.get_by_text("Registry credentials").click()
            await page.get_by_label("User").fill(USER)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_label("Containers to check").fill(name)
            await page.get_by_role("button", name="Check for updates").click()
            updates = page.get_by_role("region", name="Updates")
            await updates.get_by_text("update available").wait_for(timeout=60_000)
            await check_page(page, "images-update-light")
            await updates.get_by_role("button", name=f"Recreate {name}").click()
            # The outcome, whichever it is (a failure says why).
            note = updates.get_by_role("status").filter(has_text=f"{name}")
            await note.wait_for(timeout=120_000)
            assert (await note.inner_text()).startswith(f"Recreated {name}")
        got = inspect("container", name)
        assert got["State"]["Running"]
        assert got["Image"] != old_image
        assert docker("exec", name, "cat", "/version").strip() == "two"
    finally:
        docker("rm", "-f", name, check=False)
        rmi(ref)


async def test_build_tag_and_remove(server: LiveServer, image: str) -> None:
    tag = f"mt-ui-build-{uuid.uuid4().hex[:8]}:1"
    other = tag.replace(":1", ":2")
    try:
        async with chromium(server.url) as browser, browser.page(dark=True) as page:
            await page.goto(f"{server.url}/ui/images")
            await page.get_by_label("Tag", exact=True).fill(tag)
            await page.get_by_label("Dockerfile", exact=True).fill(
                f"FROM {image}\nLABEL built.by=moorage-ui\nRUN echo step-ran-$((40+2))\n"
            )
            await page.get_by_role("button", name="Build", exact=True).click()
            log = page.get_by_label("Build log")
            await log.get_by_text("step-ran-42").wait_for(timeout=120_000)
            await log.get_by_text(f"Built {tag}").wait_for(timeout=120_000)
            assert exists("image", tag)

            row = page.locator(f'tr[data-image="{tag}"]')
            await row.get_by_role("button", name=f"Tag {tag}").click()
            await page.get_by_label("New name (repository:tag)").fill(other)
            await page.get_by_role("dialog").get_by_role("button", name="Tag").click()
            await page.get_by_role("status").get_by_text(f"Tagged {tag} as {other}").wait_for()
            assert exists("image", other)
            await check_page(page, "images-dark")

            await row.get_by_role("button", name=f"Remove {tag}").click()
            await page.get_by_role("dialog").get_by_role("button", name="Remove").click()
            await page.get_by_role("status").get_by_text(f"Removed {tag}").wait_for()
            assert not exists("image", tag)
            assert exists("image", other)
    finally:
        rmi(tag, other)
