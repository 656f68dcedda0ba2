"""Pure translation, no engine: ServiceSpec both ways, service state, the service log
line parser and reorder buffer, and the policy's service rule."""

from __future__ import annotations

import struct
from typing import Any

import pydantic
import pytest

from app import errors
from app.models.services import ServiceCreate, ServiceSpec, spec_from_engine
from app.policy import Policy
from app.services.swarm import service_state
from app.services.swarm_logs import LineSplitter, RawLine, Reorder, format_id, parse_id

FULL: dict[str, Any] = {
    "name": "web",
    "image": "registry.local:5000/web:1.0",
    "command": ["/bin/web"],
    "args": ["--port", "80"],
    "environment": {"A": "1", "B": "x=y"},
    "labels": {"team": "a"},
    "container_labels": {"c": "d"},
    "mode": "replicated",
    "replicas": 3,
    "ports": [{"target": 80, "published": 8080, "protocol": "tcp", "mode": "host"}],
    "mounts": [{"type": "volume", "source": "data", "target": "/data", "read_only": True}],
    "networks": [{"target": "front", "aliases": ["web"]}],
    "constraints": ["node.role==worker"],
    "placement_preferences": ["node.labels.zone"],
    "max_replicas_per_node": 2,
    "resources": {"limits": {"cpus": 1.5, "memory": 512 << 20}, "reservations": {"cpus": 0.25}},
    "restart_policy": {"condition": "on-failure", "delay": 2.0, "max_attempts": 3, "window": 60.0},
    "update_config": {
        "parallelism": 2,
        "delay": 1.0,
        "failure_action": "rollback",
        "monitor": 5.0,
        "max_failure_ratio": 0.5,
        "order": "start-first",
    },
    "rollback_config": {
        "parallelism": 1,
        "delay": 0.5,
        "failure_action": "pause",
        "monitor": 2.0,
        "max_failure_ratio": 0,
        "order": "stop-first",
    },
    "healthcheck": {"test": ["CMD", "true"], "interval": 2.0, "timeout": 1.0, "retries": 3},
    "secrets": [{"name": "pw", "target": "db", "uid": "0", "gid": "0", "mode": 0o400}],
    "configs": [{"name": "conf", "target": "/etc/app.conf", "uid": "0", "gid": "0", "mode": 0o444}],
    "user": "1000",
    "workdir": "/app",
    "hostname": "web-{{.Task.Slot}}",
    "endpoint_mode": "dnsrr",
    "stop_grace_period": 2.5,
    "stop_signal": "SIGINT",
    "init": True,
    "read_only": True,
    "tty": True,
    "cap_add": ["NET_ADMIN"],
    "cap_drop": ["CHOWN"],
    "sysctls": {"net.ipv4.tcp_syncookies": "1"},
}


def test_engine_units() -> None:
    spec = ServiceCreate.model_validate(
        {**FULL, "resources": {"limits": {"memory": "512m"}}}
    ).apply({})
    task, c = spec["TaskTemplate"], spec["TaskTemplate"]["ContainerSpec"]
    assert task["Resources"]["Limits"] == {"MemoryBytes": 512 << 20}
    assert c["StopGracePeriod"] == 2_500_000_000
    assert task["RestartPolicy"]["Delay"] == 2_000_000_000
    assert spec["UpdateConfig"]["Monitor"] == 5_000_000_000
    assert c["Env"] == ["A=1", "B=x=y"]
    assert c["Secrets"] == [
        {"SecretName": "pw", "File": {"Name": "db", "UID": "0", "GID": "0", "Mode": 0o400}}
    ]
    assert spec["EndpointSpec"] == {
        "Mode": "dnsrr",
        "Ports": [
            {"Protocol": "tcp", "TargetPort": 80, "PublishMode": "host", "PublishedPort": 8080}
        ],
    }
    assert task["Placement"] == {
        "Constraints": ["node.role==worker"],
        "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
        "MaxReplicas": 2,
    }


def test_round_trip_every_field() -> None:
    """What moorage sends it reads back the same (secret ids aside: the engine's)."""
    engine = ServiceCreate.model_validate(FULL).apply({})
    back = spec_from_engine(engine).model_dump(exclude_none=True)
    assert back == ServiceSpec.model_validate(FULL).model_dump(exclude_none=True)
    assert set(FULL) == set(ServiceSpec.model_fields)  # FULL covers every field


def test_patch_changes_only_what_is_given() -> None:
    current = ServiceCreate.model_validate(FULL).apply({})
    current["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretID"] = "abc"
    current["TaskTemplate"]["ForceUpdate"] = 4
    patched = ServiceSpec.model_validate({"image": "registry.local:5000/web:2.0"}).apply(current)
    assert patched["TaskTemplate"]["ContainerSpec"]["Image"] == "registry.local:5000/web:2.0"
    patched["TaskTemplate"]["ContainerSpec"]["Image"] = current["TaskTemplate"]["ContainerSpec"][
        "Image"
    ]
    assert patched == current  # nothing else moved (engine-only fields kept too)
    cleared = ServiceSpec.model_validate({"hostname": None, "constraints": None}).apply(current)
    assert "Hostname" not in cleared["TaskTemplate"]["ContainerSpec"]
    assert "Constraints" not in cleared["TaskTemplate"]["Placement"]
    assert current["TaskTemplate"]["ContainerSpec"]["Hostname"]  # the input is not changed
    scaled = ServiceSpec.model_validate({"replicas": 7}).apply(current)
    assert scaled["Mode"] == {"Replicated": {"Replicas": 7}}
    with pytest.raises(ValueError, match="global"):
        ServiceSpec.model_validate({"replicas": 2}).apply({"Mode": {"Global": {}}})


@pytest.mark.parametrize(
    "bad",
    [
        {"image": "x", "mode": "global", "replicas": 2},
        {"image": "x", "resources": {"limits": {"memory": "1m"}}},
        {"image": "x", "stop_grace_period": -1},
        {"image": "x", "constraints": ["node.role"]},
        {"image": "x", "rollback_config": {"failure_action": "rollback"}},
        {"image": "x", "ports": [{"target": 0}]},
        {"image": "x", "privileged": True},
        {"name": "no-image"},
    ],
)
def test_bad_specs(bad: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        ServiceCreate.model_validate(bad)


def _task(slot: int, state: str, ts: str, err: str = "") -> dict[str, Any]:
    return {"Slot": slot, "Status": {"State": state, "Timestamp": ts, "Err": err}}


def test_service_state() -> None:
    assert service_state(0, 0, []) == ("stopped", None)
    assert service_state(2, 2, []) == ("running", None)
    rejected = [
        _task(1, "rejected", "2026-01-01T00:00:01Z", "No such image: x"),
        _task(2, "rejected", "2026-01-01T00:00:02Z", "No such image: x"),
        _task(1, "ready", "2026-01-01T00:00:03Z"),
    ]
    assert service_state(2, 0, rejected) == ("rejected", "No such image: x")
    # One slot still has hope (its last end was a normal stop): converging.
    mixed = [*rejected, _task(2, "shutdown", "2026-01-01T00:00:04Z")]
    assert service_state(2, 0, mixed)[0] == "converging"
    assert service_state(2, 1, [*rejected, _task(3, "running", "x")])[0] == "converging"


def _frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", kind, len(payload)) + payload


def _line(ts: str, task: str, text: str, node: str = "n1") -> bytes:
    details = (
        f"com.docker.swarm.node.id={node},com.docker.swarm.service.id=s,"
        f"com.docker.swarm.task.id={task}"
    )
    return f"{ts} {details} {text}\n".encode()


def test_line_splitter() -> None:
    splitter = LineSplitter()
    body = (
        _frame(1, _line("2026-01-01T00:00:00.000000001Z", "t1", "hello world"))
        + _frame(2, _line("2026-01-01T00:00:00.000000001Z", "t1", "same stamp"))
        + _frame(1, _line("2026-01-01T00:00:00.000000002Z", "t2", ""))
    )
    lines = (
        splitter.feed(body[:7], 1.0)
        + splitter.feed(body[7:40], 1.0)
        + splitter.feed(body[40:], 1.0)
    )
    assert [(x.key, x.stream, x.text, x.node_id) for x in lines] == [
        ((1767225600000000001, "t1", 0), "stdout", "hello world", "n1"),
        ((1767225600000000001, "t1", 1), "stderr", "same stamp", "n1"),
        ((1767225600000000002, "t2", 0), "stdout", "", "n1"),
    ]
    assert splitter.feed(_frame(1, b"no stamp here\n"), 1.0) == []


def _raw(ns: int, task: str, arrived: float) -> RawLine:
    return RawLine((ns, task, 0), arrived, "stdout", "ts", "n", f"{task}@{ns}")


def test_reorder_merges_within_the_window() -> None:
    buf = Reorder(window=0.5, after=None)
    buf.add([_raw(10, "a", 0.0), _raw(30, "a", 0.1)])
    buf.add([_raw(20, "b", 0.3)])  # older than a line already held: takes its place
    assert buf.due(0.4) == []
    out = buf.due(0.9)
    assert [line.key[0] for line, _ in out] == [10, 20, 30]
    assert [key for line, key in out] == [line.key for line, _ in out]
    # Later than the window: sent, with the newest id already sent (no repeat on resume).
    buf.add([_raw(15, "c", 1.0)])
    ((late, key),) = buf.due(2.0)
    assert late.key[0] == 15
    assert key == (30, "a", 0)


def test_reorder_resume_drops_what_was_sent() -> None:
    buf = Reorder(window=0, after=(20, "b", 0))
    buf.add(
        [_raw(10, "a", 0), _raw(20, "a", 0), _raw(20, "b", 0), _raw(20, "c", 0), _raw(30, "a", 0)]
    )
    assert [line.key for line, _ in buf.drain()] == [(20, "c", 0), (30, "a", 0)]


def test_ids() -> None:
    key = (1767225600000000001, "idhxsrkcr57s1x3zb9jg6pb2v", 3)
    assert parse_id(format_id(key)) == key
    for bad in ("", "12", "12-x", "x-y-1", "12-Task-1", "12-t-1-2"):
        with pytest.raises(errors.ValidationFailed):
            parse_id(bad)


def test_policy_service_rule_pure() -> None:
    policy = Policy(bind_mount_prefixes=["/srv"], allowed_registries=["registry.local:5000"])
    ok = ServiceCreate.model_validate(
        {
            "image": "registry.local:5000/web:1",
            "mounts": [{"type": "bind", "source": "/srv/data", "target": "/d"}],
            "cap_drop": ["ALL"],
        }
    ).apply({})
    policy.check_service_spec(ok)
    for spec, rule in (
        ({**ok, "TaskTemplate": {**ok["TaskTemplate"], "Runtime": "plugin"}}, "allow_privileged"),
        ({**ok, "Networks": [{"Target": "host"}]}, "allow_host_namespaces"),
        ({**ok, "Surprise": 1}, "unknown-field"),
    ):
        with pytest.raises(errors.PolicyViolation) as caught:
            policy.check_service_spec(spec)
        assert caught.value.detail.startswith(rule + ":")


def test_splitter_of_a_containers_own_logs_names_its_task_and_node() -> None:
    """A container's logs read on its node (details but no swarm attributes): the
    task and node given, the same key as through the manager."""
    from app.services.swarm_logs import LineSplitter as Splitter

    ts = b"2026-12-01T15:33:37.674140918Z"
    body = ts + b"  w 18\n"  # details on, none set: an empty field
    frame = struct.pack(">BxxxL", 1, len(body)) + body
    direct = Splitter(task_id="t1", node_id="n1").feed(frame, 0.0)
    attrs = b"com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s,com.docker.swarm.task.id=t1"
    relayed = ts + b" " + attrs + b" w 18\n"
    via_manager = Splitter().feed(struct.pack(">BxxxL", 1, len(relayed)) + relayed, 0.0)
    assert [(x.key, x.node_id, x.text) for x in direct] == [
        (x.key, x.node_id, x.text) for x in via_manager
    ]
    assert direct[0].text == "w 18"


def test_service_buffer_floor_covers_what_it_dropped() -> None:
    from app.services.swarm_follow import Buffer
    from app.streams import Item

    buf = Buffer(limit=20, floor_ns=100)
    for ns in (110, 105, 120, 130):  # 105: a line sent late, out of order
        buf.add(Item(key=(ns, "t", 0), data=b"x" * 10))
    # Dropped for room: 110 and 105 → the floor is the newest of them; every line
    # stamped after it is still held.
    assert [it.key[0] for it in buf.items] == [120, 130]
    assert buf.floor_ns == 110


def test_live_lines_after_a_history_skip_what_it_gave() -> None:
    from app.services.swarm_follow import _live
    from app.streams import Item

    floor = 10_000_000_000_000
    seam = {(floor - 5, "t", 0)}
    assert _live(Item(key=(floor + 1, "t", 0), data=b""), None, floor, seam)
    assert not _live(Item(key=(floor - 5, "t", 0), data=b""), None, floor, seam)  # a repeat
    assert _live(Item(key=(floor - 4, "u", 0), data=b""), None, floor, seam)  # late, new
    assert not _live(Item(key=(floor - 60 * 10**9, "u", 0), data=b""), None, floor, seam)
    after = (floor + 10, "t", 0)
    assert not _live(Item(key=(floor + 10, "t", 0), data=b""), after, floor, seam)
    assert _live(Item(key=(floor + 10, "t", 1), data=b""), after, floor, seam)
