"""A client generated from openapi/openapi.json (openapi-python-client) drives moorage.

The spec is what generated clients see: method names must be the operationIds and
bodies/answers real model classes. The client is generated offline into a temporary
folder at test time, then used against a real uvicorn as a new user would: create
and start a container with a published port and a health check, read it, list it by
label, exec in it, read its logs, stop it, delete it.
"""

from __future__ import annotations

import importlib
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
