"""The volumes and networks pages in a real browser against a real moorage and engine:
create a volume and a network (IPAM subnet) from the forms, see who uses them, connect
and disconnect a container, remove both; the engine agrees at every step. Prune is
tried with this run's label only (the engine is shared)."""

from __future__ import annotations

from tests.browser.ui_harness import check_page, chromium, served
from tests.conftest import RUN_ID, TEST_LABEL, LiveServer, docker, exists, inspect, run_sleeper

LABEL = f"{TEST_LABEL}={RUN_ID}"


server = served("ui-storage")


async def test_create_inspect_and_remove_a_volume(
    server: LiveServer, image: str, name: str
) -> None:
    vol = f"{name}-vol"
    async with chromium(server.url) as browser, browser.page() as page:
        await page.goto(f"{server.url}/ui/volumes")
        await page.get_by_label("Name").fill(vol)
        await page.get_by_label("Labels").fill(f"{LABEL}, made.by=ui")
        await page.get_by_role("button", name="Create volume").click()
        await page.get_by_role("status").get_by_text(f"Created volume {vol}").wait_for()
        assert inspect("volume", vol)["Labels"] == {TEST_LABEL: RUN_ID, "made.by": "ui"}

        # A container mounting it, made outside the page: inspect names it.
        run_sleeper(image, name, "-v", f"{vol}:/data")
        await page.get_by_role("button", name=f"Inspect {vol}").click()
        await page.locator(".inspect-row").get_by_role("link", name=name).wait_for()
        await check_page(page, "volumes-light")

        # In use: the engine refuses, the page says so and the volume stays.
        await page.get_by_role("button", name=f"Remove {vol}").click()
        await page.get_by_role("dialog").get_by_role("button", name="Remove").click()
        await page.get_by_role("status").get_by_text(f"Remove {vol} failed").wait_for()
        assert exists("volume", vol)

        docker("rm", "-f", name)
        await page.get_by_role("button", name=f"Remove {vol}").click()
        await page.get_by_role("dialog").get_by_role("button", name="Remove").click()
        await page.get_by_role("status").get_by_text(f"Removed volume {vol}").wait_for()
        await page.locator(f'tr[data-volume="{vol}"]').wait_for(state="detached")
    assert not exists("volume", vol)


async def test_prune_volumes_with_this_runs_label(server: LiveServer, name: str) -> None:
    vol = f"{name}-unused"
    docker("volume", "create", "--label", LABEL, vol)
    async with chromium(server.url) as browser, browser.page() as page:
        await page.goto(f"{server.url}/ui/volumes")
        await page.locator(f'tr[data-volume="{vol}"]').wait_for()
        await page.get_by_label("Only labelled").fill(LABEL)
        await page.get_by_role("button", name="Prune unused volumes…").click()
        dialog = page.get_by_role("dialog")
        await dialog.get_by_text("would be freed").wait_for()
        await dialog.get_by_role("button", name="Prune").click()
        await page.get_by_role("status").get_by_text("Pruned").wait_for()
    assert not exists("volume", vol)


async def test_create_connect_disconnect_and_remove_a_network(
    server: LiveServer, image: str, name: str
) -> None:
    net = f"{name}-net"
    # On the default bridge: a container of `--network none` cannot join another.
    box = f"{name}-box"
    docker("run", "-d", "--label", LABEL, "--name", box, image, "sleep", "600")
    async with chromium(server.url) as browser, browser.page(dark=True) as page:
        await page.goto(f"{server.url}/ui/networks")
        await page.get_by_label("Name").fill(net)
        await page.get_by_label("Labels").fill(LABEL)
        await page.get_by_label("Subnet").fill("10.231.77.0/24")
        await page.get_by_label("Gateway").fill("10.231.77.1")
        await page.get_by_role("button", name="Create network").click()
        await page.get_by_role("status").get_by_text(f"Created network {net}").wait_for()
        ipam = inspect("network", net)["IPAM"]["Config"]
        assert ipam == [{"Subnet": "10.231.77.0/24", "Gateway": "10.231.77.1"}]

        # Connect a container from the network's inspect view; the engine agrees.
        await page.get_by_role("button", name=f"Inspect {net}").click()
        await page.get_by_label("Connect a container").select_option(box)
        await page.get_by_role("button", name="Connect", exact=True).click()
        await page.get_by_role("status").get_by_text(f"Connected {box} to {net}").wait_for()
        assert net in inspect("container", box)["NetworkSettings"]["Networks"]
        await page.get_by_role("button", name=f"Disconnect {box}").wait_for()
        await check_page(page, "networks-dark")

        await page.get_by_role("button", name=f"Disconnect {box}").click()
        await page.get_by_role("status").get_by_text(f"Disconnected {box} from {net}").wait_for()
        assert net not in inspect("container", box)["NetworkSettings"]["Networks"]

        await page.get_by_role("button", name=f"Remove {net}").click()
        await page.get_by_role("dialog").get_by_role("button", name="Remove").click()
        await page.get_by_role("status").get_by_text(f"Removed network {net}").wait_for()
    assert not exists("network", net)


async def test_a_bad_subnet_is_named_and_nothing_is_made(server: LiveServer, name: str) -> None:
    net = f"{name}-bad"
    async with chromium(server.url) as browser, browser.page() as page:
        await page.goto(f"{server.url}/ui/networks")
        await page.get_by_label("Name").fill(net)
        await page.get_by_label("Subnet").fill("10.0.0.0/99")
        await page.get_by_role("button", name="Create network").click()
        await page.get_by_role("alert").wait_for()
    assert not exists("network", net)
