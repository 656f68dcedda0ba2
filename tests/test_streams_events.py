"""GET /v1/events: filters, resume from moorage's journal beyond the engine's
256-event memory, and the gap report when nothing reaches back far enough."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests import conftest
from tests.conftest import LiveServer
from tests.sse import Event, events

pytestmark = pytest.mark.engine

ENGINE = "http://docker/v1.41"


def engine() -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds="/var/run/docker.sock"), timeout=30)


def churn(prefix: str, n: int) -> list[tuple[str, str]]:
    """Create and remove `n` volumes: 2n cheap engine events, in order."""
    done: list[tuple[str, str]] = []
    with engine() as c:
        for i in range(n):
            name = f"{prefix}-{i}"
            c.post(
                f"{ENGINE}/volumes/create", json={"Name": name, "Labels": conftest.test_labels()}
            )
            c.delete(f"{ENGINE}/volumes/{name}").raise_for_status()
            done += [("create", name), ("destroy", name)]
    return done


async def read_ours(
    url: str, prefix: str, want: int, headers: dict[str, str] | None = None
) -> list[Event]:
    """Events for volumes named `prefix-*` (and gap events), until `want` of them."""
    out: list[Event] = []
    async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", url, headers=headers or {}) as r:
        assert r.status_code == 200
        async for ev in events(r):
            if ev.event == "gap" or (ev.event == "volume" and ev.json["id"].startswith(prefix)):
                out.append(ev)
                if len([e for e in out if e.event == "volume"]) >= want:
                    return out
    return out


async def test_resume_from_journal_beyond_engine_memory(live_server):
    prefix = f"mt-ev-{uuid.uuid4().hex[:6]}"
    url = f"{live_server.url}/v1/events?type=volume"
    # A first event, seen live: its id is the resume point.
    async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", url) as r:
        stream = events(r)
        churn(prefix + "-a", 1)
        (first,) = [ev async for ev in _take(stream, prefix, 1)]
    assert first.id == str(first.json["time_nano"])
    assert first.json["action"] == "create"
    # 300 more events: the engine now remembers none of what followed `first`.
    done = churn(prefix + "-b", 150)
    expected = [("destroy", f"{prefix}-a-0"), *done]
    got = await read_ours(url, prefix, len(expected), {"Last-Event-ID": first.id})
    assert [e.event for e in got if e.event == "gap"] == []
    assert [(e.json["action"], e.json["id"]) for e in got] == expected
    ids = [int(e.id or 0) for e in got]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    # The same from the query parameter, starting in the middle.
    mid = got[100]
    again = await read_ours(url + f"&last_event_id={mid.id}", prefix, len(expected) - 101)
    assert [e.id for e in again] == [e.id for e in got[101:]]


async def _take(stream, prefix: str, n: int):
    count = 0
    async for ev in stream:
        if ev.event == "volume" and ev.json["id"].startswith(prefix):
            yield ev
            count += 1
            if count >= n:
                return


async def test_gap_reported_when_nothing_reaches_back(name):
    prefix = f"mt-gap-{uuid.uuid4().hex[:6]}"
    churn(prefix + "-a", 1)
    # The resume point: an id just before our first event (a moment ago).
    server = LiveServer(env={"MOORAGE_EVENTS_JOURNAL_SIZE": "256"}).start(wait_ready=True)
    try:
        before = time.time_ns()
        churn(prefix + "-b", 140)  # > 256 events after `before`, before any journal
        got = await read_ours(
            f"{server.url}/v1/events?type=volume",
            prefix + "-b",
            1,
            {"Last-Event-ID": str(before - 60_000_000_000)},
        )
    finally:
        server.stop()
    assert got[0].event == "gap"
    assert set(got[0].json) == {"after", "first_available", "detail"}


async def test_filters_by_label_action_and_container(live_server, name):
    labels = conftest.test_labels(app=name)
    url = (
        f"{live_server.url}/v1/events?type=container&action=create&action=destroy"
        f"&label=app={name}&container={name}"
    )
    got: list[Event] = []
    async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", url) as r:
        with engine() as e:
            spec = {
                "Image": "moorage-test/busybox:latest",
                "Cmd": ["true"],
                "Labels": labels,
                "HostConfig": {"NetworkMode": "none"},
            }
            cid = e.post(f"{ENGINE}/containers/create", params={"name": name}, json=spec).json()[
                "Id"
            ]
            e.delete(f"{ENGINE}/containers/{cid}").raise_for_status()
        async for ev in events(r):
            got.append(ev)
            if len(got) == 2:
                break
    assert [(e.event, e.json["action"], e.json["id"], e.json["name"]) for e in got] == [
        ("container", "create", cid, name),
        ("container", "destroy", cid, name),
    ]
    assert got[0].json["attributes"]["app"] == name


async def test_since_replays_then_follows(live_server):
    prefix = f"mt-since-{uuid.uuid4().hex[:6]}"
    start = time.time()
    done = churn(prefix, 3)
    url = f"{live_server.url}/v1/events?type=volume&since={start:.3f}"
    async with httpx.AsyncClient(timeout=60) as c, c.stream("GET", url) as r:
        seen: list[tuple[str, str]] = []
        async for ev in events(r):
            if ev.event == "volume" and ev.json["id"].startswith(prefix):
                seen.append((ev.json["action"], ev.json["id"]))
                if len(seen) == len(done):
                    churn(prefix + "-live", 1)
                if len(seen) == len(done) + 2:
                    break
    assert seen == [*done, ("create", f"{prefix}-live-0"), ("destroy", f"{prefix}-live-0")]


@pytest.mark.slow
async def test_a_huge_event_does_not_stall_events_or_the_state(live_server, name, tmp_path):
    """~1 MB of labels, made with the docker CLI (past moorage's own bound): its event
    is over the reader's line limit. It arrives without its attributes, marked
    `truncated`; the next event still arrives, and the state cache follows both."""
    label_file = tmp_path / "labels"
    label_file.write_text("".join(f"big{i}={'x' * 50_000}\n" for i in range(20)))
    flags = [f"--label={k}={v}" for k, v in conftest.test_labels(app=name).items()]
    # No label filter: the big event's labels are dropped, so a label cannot match it.
    url = f"{live_server.url}/v1/events?type=container&action=create"
    got: list[Event] = []
    async with httpx.AsyncClient(timeout=60) as c:
        async with c.stream("GET", url) as r:
            assert r.status_code == 200
            conftest.docker(
                "create", "--network", "none", "--label-file", str(label_file), *flags,
                "--name", name + "-big", conftest.TEST_IMAGE, "true",
            )  # fmt: skip
            small = conftest.docker(
                "create", "--network", "none", *flags, "--name", name + "-small",
                conftest.TEST_IMAGE, "true",
            ).strip()  # fmt: skip
            big = conftest.inspect("container", name + "-big")["Id"]
            async for ev in events(r):
                if ev.event == "container" and ev.json["id"] in (big, small):
                    got.append(ev)
                if any(e.json["id"] == small for e in got):
                    break
        # The state cache saw both: each is served with its labels.
        for ref, want in ((name + "-big", 22), (name + "-small", 2)):
            doc = (await c.get(f"{live_server.url}/v1/containers/{ref}")).json()
            assert len(doc["labels"]) == want
        metrics = (await c.get(f"{live_server.url}/metrics")).text
    # The big one's event, attributes dropped, then the small one's, in order.
    assert [(e.json["id"], e.json.get("truncated", False)) for e in got] == [
        (big, True),
        (small, False),
    ]
    assert got[0].json["attributes"] == {}
    line = next(x for x in metrics.splitlines() if x.startswith("moorage_engine_events_oversized"))
    assert float(line.split()[-1]) >= 1
