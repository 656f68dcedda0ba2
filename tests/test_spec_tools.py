"""The spec through the tools client authors run on it: zero errors, zero warnings.

- Spectral (`spectral:oas`) and Redocly (`recommended`) lint openapi/openapi.json;
- openapi-typescript makes its types and `tsc --strict` checks a small client that
  lists, creates (the minimal `{image}`), gets, reads logs, follows a log stream by
  its typed events and reads an error (openapi/tools/ts/client.ts);
- openapi-python-client's package passes `mypy --strict` (with none of the
  generator's own template errors either, today);
- datamodel-code-generator gives every component schema a class of its own name,
  and no numbered duplicates (`Health2`, `Ports1`).

The npm tools are pinned in openapi/tools/package-lock.json; scripts/spec-tools.sh
(`make spec-tools`, a prerequisite of `make test`) installs them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

TOOLS = ROOT / "openapi" / "tools"
SPEC = ROOT / "openapi" / "openapi.json"
BIN = TOOLS / "node_modules" / ".bin"
ENV = {
    **os.environ,
    "REDOCLY_TELEMETRY": "off",
    "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
    "NO_COLOR": "1",
}


@pytest.fixture(scope="module")
def tools() -> Path:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed (Node.js 20.19 or later)")
    subprocess.run([str(ROOT / "scripts" / "spec-tools.sh")], check=True, timeout=600)
    return BIN


def run(
    args: list[str], cwd: Path = TOOLS, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_spectral_finds_nothing(tools: Path, tmp_path: Path) -> None:
    out = tmp_path / "spectral.json"
    args = ["lint", "-r", ".spectral.yaml", "-f", "json", "-o", str(out), str(SPEC)]
    proc = run([str(tools / "spectral"), *args])
    results = json.loads(out.read_text())
    found = [f"{r['code']} {'.'.join(map(str, r['path']))}: {r['message']}" for r in results]
    assert found == [], "\n".join(found)
    assert proc.returncode == 0, proc.stderr


def test_redocly_finds_nothing(tools: Path) -> None:
    proc = run([str(tools / "redocly"), "lint", "--format=json", str(SPEC)])
    report = json.loads(proc.stdout)
    found = [
        f"{p['ruleId']} {p['location'][0]['pointer']}: {p['message']}" for p in report["problems"]
    ]
    assert found == [], "\n".join(found)
    assert report["totals"]["errors"] == report["totals"]["warnings"] == 0
    assert proc.returncode == 0, proc.stderr


def test_typescript_client_type_checks(tools: Path) -> None:
    schema = TOOLS / "ts" / "schema.d.ts"
    proc = run([str(tools / "openapi-typescript"), str(SPEC), "-o", str(schema)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run([str(tools / "tsc"), "-p", "ts", "--strict"])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_python_client_passes_mypy_strict(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n")
    tool = Path(sys.executable).with_name("openapi-python-client")
    args = ["generate", "--path", str(SPEC), "--meta", "none", "--config", str(config)]
    out = tmp_path / "moorage_client"
    proc = run([str(tool), *args, "--output-path", str(out)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Warning" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    mypy = Path(sys.executable).with_name("mypy")
    proc = run(
        [str(mypy), "--strict", "--no-incremental", "--cache-dir", os.devnull, "moorage_client"],
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_datamodel_codegen_names_every_schema_after_itself(tmp_path: Path) -> None:
    out = tmp_path / "models.py"
    tool = Path(sys.executable).with_name("datamodel-codegen")
    args = ["--input", str(SPEC), "--input-file-type", "openapi", "--output", str(out)]
    args += ["--output-model-type", "pydantic_v2.BaseModel", "--formatters", "black"]
    proc = run([str(tool), *args], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    classes = re.findall(r"^class (\w+)\(", out.read_text(), re.M)
    schemas = json.loads(SPEC.read_text())["components"]["schemas"]
    assert sorted(set(schemas) - set(classes)) == []
    assert [c for c in classes if c[-1].isdigit()] == []
    # The classes are those of their schemas: Health is the probe's, not an enum.
    namespace: dict[str, Any] = {}
    exec(compile(out.read_text(), str(out), "exec"), namespace)
    assert set(namespace["Health"].model_fields) == set(schemas["Health"]["properties"])
    assert set(namespace["Volume"].model_fields) == set(schemas["Volume"]["properties"])
