"""`python -m build`: an sdist and a wheel; the wheel installs into a clean venv and
`moorage serve` starts from it. The built dashboard (app/ui/dist) goes into both when
it exists, and its absence fails nothing.

The builds run on a copy of the source (pyproject.toml, README.md, MANIFEST.in, app/),
so that a dashboard file can be added without touching the checkout.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port
from tests.engine_harness import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.engine]  # /readyz asks the engine

UI_FILES = ("app/ui/dist/index.html", "app/ui/dist/assets/app.js")


def source_copy(dest: Path, with_ui: bool) -> Path:
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "MANIFEST.in"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(
        ROOT / "app",
        dest / "app",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "dist"),
    )
    if with_ui:
        for rel in UI_FILES:
            path = dest / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"<!-- {rel} -->\n")
    return dest


@dataclass
class Dist:
    sdist: Path
    wheel: Path

    def sdist_names(self) -> set[str]:
        with tarfile.open(self.sdist) as tar:
            # moorage-0.1.0/app/main.py → app/main.py
            return {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}

    def wheel_names(self) -> set[str]:
        with zipfile.ZipFile(self.wheel) as whl:
            return set(whl.namelist())


def build(src: Path, out: Path) -> Dist:
    """`python -m build` as a user runs it: the sdist, then the wheel from the sdist."""
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (sdist,) = out.glob("moorage-*.tar.gz")
    (wheel,) = out.glob("moorage-*-py3-none-any.whl")
    return Dist(sdist, wheel)


@pytest.fixture(scope="module")
def with_ui(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    tmp = tmp_path_factory.mktemp("build-ui")
    return build(source_copy(tmp / "src", with_ui=True), tmp / "dist")


def test_sdist_and_wheel_without_the_dashboard(tmp_path: Path) -> None:
    dist = build(source_copy(tmp_path / "src", with_ui=False), tmp_path / "dist")
    sdist = dist.sdist_names()
    assert {"pyproject.toml", "README.md", "app/main.py", "app/cli.py"} <= sdist
    wheel = dist.wheel_names()
    assert {"app/main.py", "app/routers/containers.py"} <= wheel
    assert not any(n.startswith(("tests/", "bench/")) for n in wheel | sdist)
    assert not any("/ui/dist/" in n for n in wheel)
    (entry_points,) = (n for n in wheel if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(dist.wheel) as whl:
        assert "moorage = app.cli:main" in whl.read(entry_points).decode()


def test_the_dashboard_goes_into_sdist_and_wheel(with_ui: Dist) -> None:
    assert set(UI_FILES) <= with_ui.sdist_names()
    assert set(UI_FILES) <= with_ui.wheel_names()


@pytest.fixture(scope="module")
def clean_venv(with_ui: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # Wheels already built for the image (make image) spare the index some work.
    links = ["--find-links", str(ROOT / "wheelhouse")] if (ROOT / "wheelhouse").is_dir() else []
    proc = subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check", *links,
         str(with_ui.wheel)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return venv


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without this checkout's settings or paths."""
    drop = ("MOORAGE_", "VIRTUAL_ENV", "PYTHONPATH", "PYTEST_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, **extra}


def test_the_wheel_installs_and_serves(clean_venv: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [str(clean_venv / "bin/python"), "-c",
         "import app, importlib.resources as r; print(app.__file__);"
         " print(r.files('app').joinpath('ui/dist/index.html').is_file())"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    # Imported from the venv, not from the checkout; the dashboard file installed.
    assert where[0].startswith(str(clean_venv)), where
    assert where[1] == "True"
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as logf:
        proc = subprocess.Popen(
            [str(clean_venv / "bin/moorage"), "serve", "--port", str(port)],
            cwd=tmp_path,
            env=clean_env(MOORAGE_AUDIT_DB=str(tmp_path / "audit.sqlite3")),
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None

        assert wait_for(healthy, timeout=60, interval=0.2)
        assert proc.poll() is None, log.read_text()[-2000:]
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # uvicorn re-raises SIGTERM once it has shut down cleanly (hence -15, not 0).
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()[-2000:]
    assert "Finished server process" in log.read_text()
