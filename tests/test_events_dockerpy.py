"""GET /v1/events: `until`, and every filter the engine's events take (docker-py
`client.events(since=, until=, filters=)`)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from app.services.events import EventFilter
from tests.conftest import RUN_ID, TEST_IMAGE, TEST_LABEL, docker
from tests.sse import Event, events
from tests.test_streams_events import churn

pytestmark = pytest.mark.engine


def ev(type_: str, action: str, id_: str, scope: str = "local", **attrs: str) -> dict[str, Any]:
    return {
        "Type": type_,
        "Action": action,
        "Actor": {"ID": id_, "Attributes": attrs},
        "scope": scope,
        "timeNano": 1,
    }


CONTAINER = ev("container", "start", "c0ffee" * 10, image="busybox:1.36", name="web")
IMAGE = ev("image", "tag", "sha256:abc", name="busybox:1.36")
VOLUME = ev("volume", "create", "data-1", driver="local")
NETWORK = ev("network", "create", "n3tw0rk", name="front", type="bridge")
DAEMON = ev("daemon", "reload", "D4EM:ON", name="host-1")
PLUGIN = ev("plugin", "enable", "p1ug", name="vieux/sshfs:latest")
NODE = ev("node", "update", "n0de", "swarm", name="worker-1")
SERVICE = ev("service", "create", "s3rv", "swarm", name="api")
CONFIG = ev("config", "create", "c0nf", "swarm", name="nginx.conf")
SECRET = ev("secret", "create", "s3cr", "swarm", name="db-pass")
ALL = [CONTAINER, IMAGE, VOLUME, NETWORK, DAEMON, PLUGIN, NODE, SERVICE, CONFIG, SECRET]


def matching(flt: EventFilter) -> list[str]:
    return [e["Type"] for e in ALL if flt(e)]


@pytest.mark.parametrize(
    ("flt", "types"),
    [
        (EventFilter(images=frozenset({"busybox"})), ["container", "image"]),
        (EventFilter(images=frozenset({"busybox:1.36"})), ["container", "image"]),
        (EventFilter(images=frozenset({"sha256:abc"})), ["image"]),
        (EventFilter(fuzzy=(frozenset({"data"}),)), ["volume"]),  # volume=data
        (EventFilter(fuzzy=(frozenset({"front"}),)), ["network"]),  # network=front
        (EventFilter(fuzzy=(frozenset({"D4EM"}),)), ["daemon"]),  # daemon=<id>
        (EventFilter(fuzzy=(frozenset({"vieux/sshfs"}),)), ["plugin"]),
        (EventFilter(fuzzy=(frozenset({"worker"}),)), ["node"]),
        (EventFilter(fuzzy=(frozenset({"api"}),)), ["service"]),
        (EventFilter(fuzzy=(frozenset({"nginx"}),)), ["config"]),
        (EventFilter(fuzzy=(frozenset({"db-pass"}),)), ["secret"]),
        (EventFilter(scopes=frozenset({"swarm"})), ["node", "service", "config", "secret"]),
        (EventFilter(types=frozenset({"volume", "network"})), ["volume", "network"]),
        (EventFilter(actions=frozenset({"create"})), ["volume", "network", "service", "config",
                                                      "secret"]),
        (EventFilter(containers=frozenset({"web"})), ["container"]),
        (EventFilter(fuzzy=(frozenset({"data"}), frozenset({"front"}))), []),  # both: AND
    ],
    ids=["image-repo", "image-tag", "image-id", "volume", "network", "daemon", "plugin",
         "node", "service", "config", "secret", "scope", "type", "event", "container",
         "two-keys"],
)  # fmt: skip
def test_filter(flt: EventFilter, types: list[str]) -> None:
    assert matching(flt) == types


async def _read(url: str) -> list[Event]:
    """The whole stream, to its end."""
    out: list[Event] = []
    async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", url) as r:
        assert r.status_code == 200, await r.aread()
        async for e in events(r):
            out.append(e)
            if e.event == "end":
                break
    return out


async def test_since_until_is_a_bounded_window(live_server: Any) -> None:
    prefix = f"mt-until-{uuid.uuid4().hex[:6]}"
    before = time.time()
    done = churn(prefix, 3)
    after = time.time()
    churn(prefix + "-late", 1)  # after the window: never sent
    got = await _read(
        f"{live_server.url}/v1/events?since={before:.9f}&until={after:.9f}&volume={prefix}"
    )
    assert got[-1].event == "end"
    assert got[-1].json == {"reason": "until"}
    assert [(e.json["action"], e.json["id"]) for e in got[:-1]] == done


async def test_until_in_the_future_ends_the_follow(live_server: Any) -> None:
    prefix = f"mt-until-f-{uuid.uuid4().hex[:6]}"
    until = time.time() + 2
    got = await _read(f"{live_server.url}/v1/events?until={until:.3f}&volume={prefix}")
    assert [e.event for e in got] == ["end"]
    assert got[-1].json == {"reason": "until"}


async def test_engine_filters_end_to_end(live_server: Any, name: str) -> None:
    """image, network, event and scope against real engine events, in one window."""
    before = time.time()
    docker("tag", TEST_IMAGE, f"{name}:x")
    docker("rmi", f"{name}:x")
    net = docker("network", "create", "--label", f"{TEST_LABEL}={RUN_ID}", name).strip()
    docker("network", "rm", name)
    after = time.time()
    window = f"since={before:.9f}&until={after:.9f}"
    base = f"{live_server.url}/v1/events?{window}"

    def engine_says(*filters: str) -> list[str]:
        """The engine's own filter over the same window: the truth."""
        args = [a for f in filters for a in ("--filter", f)]
        out = docker("events", "--since", f"{before:.9f}", "--until", f"{after:.9f}", *args,
                     "--format", "{{.Action}}")  # fmt: skip
        return out.split()

    images = await _read(f"{base}&image={name}:x")
    assert [e.json["action"] for e in images[:-1]] == engine_says(f"image={name}:x") == ["tag"]

    nets = await _read(f"{base}&network={name}&event=create")
    assert [(e.json["action"], e.json["id"]) for e in nets[:-1]] == [("create", net)]

    local = await _read(f"{base}&network={name}&scope=local")
    assert [e.json["action"] for e in local[:-1]] == engine_says(f"network={name}", "scope=local")
    # (the engine's name match is a prefix: the image `<name>:x` tag event is in too)
    assert {"create", "destroy"} <= {e.json["action"] for e in local[:-1]}
    swarm = await _read(f"{base}&network={name}&scope=swarm")
    assert swarm[:-1] == []


async def test_until_before_since_is_422(live_server: Any) -> None:
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.get(f"{live_server.url}/v1/events", params={"since": "200", "until": "100"})
    assert r.status_code == 422, r.text


async def test_bad_scope_is_422(live_server: Any) -> None:
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.get(f"{live_server.url}/v1/events", params={"scope": "global"})
    assert r.status_code == 422, r.text
