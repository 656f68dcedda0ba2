"""A client generated from openapi/openapi.json (openapi-python-client) drives moorage.

The spec is what generated clients see: method names must be the operationIds and
bodies/answers real model classes. The client is generated offline into a temporary
folder at test time, then used against a real uvicorn as a new user would: create
and start a container with a published port and a health check, read it, list it by
label, exec in it, read its logs, stop it, delete it.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, RUN_ID, TEST_IMAGE, TEST_LABEL, LiveServer, docker, free_port

PACKAGE = "moorage_client"


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """Generate the client package and import it; forget it afterwards."""
    out = tmp_path_factory.mktemp("generated")
    config = out / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: offline, and quick
    tool = Path(sys.executable).with_name("openapi-python-client")
    proc = subprocess.run(
        [
            str(tool),
            "generate",
            "--path",
            str(ROOT / "openapi" / "openapi.json"),
            "--meta",
            "none",
            "--output-path",
            str(out / PACKAGE),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The generator reports the parts of the spec it had to leave out as warnings.
    assert "Warning" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for mod in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[mod]


@pytest.fixture(scope="module")
def net() -> Iterator[str]:
    # A user-defined network: the default bridge is not guaranteed on the shared engine.
    name = f"mt-gen-{uuid.uuid4().hex[:8]}"
    docker("network", "create", "--label", f"{TEST_LABEL}={RUN_ID}", name)
    yield name
    docker("network", "rm", name, check=False)


def api(gen: ModuleType, operation_id: str) -> Any:
    """The generated module of one operation (`api/<tag>/<operationId>.py`)."""
    for tag in ("containers", "execs", "system"):
        try:
            return importlib.import_module(f"{PACKAGE}.api.{tag}.{operation_id}")
        except ModuleNotFoundError:
            continue
    raise AssertionError(f"no generated method {operation_id}")


def test_generated_client_runs_a_container(
    gen: ModuleType, live_server: LiveServer, net: str, name: str
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    host_port = free_port()
    demo = uuid.uuid4().hex[:8]

    ports = models.ContainerSpecPortsType0()
    ports["8080/tcp"] = models.PortBinding(host_ip="127.0.0.1", host_port=host_port)
    labels = models.ContainerSpecLabelsType0()
    labels[TEST_LABEL] = RUN_ID
    labels["demo"] = demo
    spec = models.ContainerSpec(
        image=TEST_IMAGE,
        name=name,
        network=net,
        command=[
            "sh",
            "-c",
            "echo hello > /tmp/index.html; echo started; exec httpd -f -p 8080 -h /tmp",
        ],
        ports=ports,
        healthcheck=models.Healthcheck(
            test=["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/"],
            interval=0.2,
            timeout=1.0,
            retries=3,
        ),
        labels=labels,
    )

    with gen.Client(base_url=live_server.url, raise_on_unexpected_status=True) as c:
        try:
            # Create and start.
            r = api(gen, "containers_create").sync_detailed(client=c, body=spec)
            assert r.status_code == 201, r.content
            created = r.parsed
            assert isinstance(created, models.Container)
            assert created.name == name
            assert created.status == "running"
            [port] = created.ports
            assert isinstance(port, models.PortMapping)
            assert (port.container_port, port.host_port) == (8080, host_port)
            assert httpx.get(f"http://127.0.0.1:{host_port}/", timeout=5).text == "hello\n"

            # Get, until the health check says healthy.
            get = api(gen, "containers_get")
            deadline = time.monotonic() + 60
            while True:
                got = get.sync(created.id, client=c)
                assert isinstance(got, models.Container)
                if got.health == models.ContainerHealth.HEALTHY or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert got.health == models.ContainerHealth.HEALTHY
            assert got.labels["demo"] == demo
            assert isinstance(got.attrs, models.ContainerAttrs)
            health = api(gen, "containers_health").sync(name, client=c)
            assert isinstance(health, models.HealthReport)
            assert health.status == models.HealthReportStatus.HEALTHY

            # List by label.
            listed = api(gen, "containers_list").sync(client=c, label=[f"demo={demo}"])
            assert isinstance(listed, list)
            assert [s.id for s in listed] == [created.id]
            assert isinstance(listed[0], models.ContainerSummary)

            # Exec.
            out = api(gen, "containers_exec").sync(
                name, client=c, body=models.ExecSpec(cmd=["cat", "/tmp/index.html"])
            )
            assert isinstance(out, models.ExecOutput)
            assert (out.exit_code, out.output) == (0, "hello\n")
            demuxed = api(gen, "containers_exec").sync(
                name, client=c, body=models.ExecSpec(cmd="sh -c 'echo oops >&2'", demux=True)
            )
            assert isinstance(demuxed, models.ExecDemuxOutput)
            assert (demuxed.stdout, demuxed.stderr) == ("", "oops\n")

            # Logs (text).
            logs = api(gen, "containers_logs").sync(name, client=c, tail="5")
            assert logs == "started\n"

            # Stop.
            stopped = api(gen, "containers_stop").sync(name, client=c, timeout=0)
            assert isinstance(stopped, models.Container)
            assert stopped.status == "exited"
            assert stopped.exit_code == 137

            # Delete, then it is a problem document.
            deleted = api(gen, "containers_delete").sync_detailed(name, client=c)
            assert deleted.status_code == 204
            gone = get.sync(name, client=c)
            assert isinstance(gone, models.Problem)
            assert (gone.status, gone.code) == (404, "container-not-found")
        finally:
            docker("rm", "-f", name, check=False)


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str | None, str]]:
    """(event, id, data) of each event of a text/event-stream, as EventSource reads it."""
    event: str = "message"
    event_id: str | None = None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event, event_id, "\n".join(data)
            event, event_id, data = "message", None, []
        elif not line.startswith(":") and ":" in line:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "id":
                event_id = value
            elif field == "data":
                data.append(value)


def test_generated_client_reads_typed_stream_events(
    gen: ModuleType, live_server: LiveServer, net: str, name: str
) -> None:
    """A log stream read with the generated client's own HTTP client: each event's
    name says its class (the spec's `x-moorage-events`), and the frame classes of
    the stream's union take it whole."""
    models = importlib.import_module(f"{PACKAGE}.models")
    spec = json.loads((ROOT / "openapi" / "openapi.json").read_text())
    op = spec["paths"]["/v1/containers/{id}/logs/stream"]["get"]
    media = op["responses"]["200"]["content"]["text/event-stream"]
    payload_class = {
        event: getattr(models, ref["$ref"].rsplit("/", 1)[-1])
        for event, ref in media["x-moorage-events"].items()
    }
    union = spec["components"]["schemas"]["ContainersLogsStreamEvent"]["discriminator"]
    frame_class = {
        ev: getattr(models, ref.rsplit("/", 1)[-1]) for ev, ref in union["mapping"].items()
    }
    labels = models.ContainerSpecLabelsType0()
    labels[TEST_LABEL] = RUN_ID
    spec_ = models.ContainerSpec(
        image=TEST_IMAGE,
        name=name,
        network=net,
        command=["sh", "-c", "echo one; echo two >&2; exit 3"],
        labels=labels,
    )
    with gen.Client(base_url=live_server.url, raise_on_unexpected_status=True) as c:
        try:
            created = api(gen, "containers_create").sync_detailed(client=c, body=spec_)
            assert created.status_code == 201, created.content
            got: list[Any] = []
            with c.get_httpx_client().stream(
                "GET", f"/v1/containers/{name}/logs/stream", timeout=60
            ) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                for event, event_id, data in sse_events(response.iter_lines()):
                    payload = payload_class[event].from_dict(json.loads(data))
                    frame = frame_class[event].from_dict(
                        {"event": event, "id": event_id, "data": json.loads(data)}
                    )
                    assert frame.data == payload
                    got.append(payload)
                    if event in ("end", "error"):
                        break
            *lines, end = got
            assert all(isinstance(x, models.LogEvent) for x in lines)
            assert sorted((x.stream.value, x.line) for x in lines) == [
                ("stderr", "two"),
                ("stdout", "one"),
            ]
            assert isinstance(end, models.StreamEnd), end
            assert (end.reason, end.exit_code) == (models.StreamEndReason.EXITED, 3)
        finally:
            docker("rm", "-f", name, check=False)
