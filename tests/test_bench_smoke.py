"""The benchmarks' smoke form: every figure runs (seconds, not minutes) and gives numbers.

Only that it ran is asserted, never a timing: the real figures come from `make bench`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, RUN_ID, TEST_LABEL, docker

NUMBER = re.compile(r"^[\d,]+(\.\d+)?")


def run_bench(key: str, *args: str) -> str:
    """`python -m <args>` with this run's bench key and labels; its stdout (it must pass)."""
    env = {
        **os.environ,
        "MOORAGE_BENCH_KEY": key,
        "MOORAGE_BENCH_LABELS": f"{TEST_LABEL}={RUN_ID}",
    }
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_bench_quick_runs_every_figure() -> None:
    key = f"smoke-{RUN_ID}"
    stdout = run_bench(key, "bench", "--quick", "--sizes", "5")
    # The final table: the rows after the last header.
    table = stdout.rsplit("| figure | engine |", 1)[1]
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in table.splitlines()
        if line.startswith("| ") and not line.startswith("|---")
    ]
    figures = {row[0].split(".", 1)[0] for row in rows}
    assert {"1", "2", "3", "4", "5", "6"} <= figures
    for figure, engine, moorage, *_ in rows:
        measured = [c for c in (engine, moorage) if NUMBER.match(c)]
        assert measured or "route missing" in moorage, f"no number for {figure}"
    assert any(NUMBER.match(row[2]) for row in rows), "moorage gave no number at all"
    # The bench cleaned up after itself.
    assert docker("ps", "-aq", "--filter", f"label=moorage.bench={key}").split() == []


@pytest.mark.slow
def test_bench_terminals_quick_gives_figures() -> None:
    key = f"smoke-term-{RUN_ID}"
    stdout = run_bench(key, "bench.terminals", "--quick")
    rows = [line for line in stdout.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert len(rows) == 3  # 1 flat out; 5 flat out and paced
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert all(NUMBER.match(c) for c in cells[2:7]), row
    assert docker("ps", "-aq", "--filter", f"label=moorage.bench=term-{key}").split() == []
