"""The planning benchmarks run, tiny, and report what they claim to measure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--size", "tiny", "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_planner_scale_runs_tiny() -> None:
    result = _run("planner_scale.py", "--repeat", "2")
    assert (result["tests"], result["suites"], result["repetitions"]) == (1000, 10, 2)
    assert result["shards"] >= result["suites"]
    assert 0 < result["plan_seconds"]["min"] <= result["plan_seconds"]["max"] < 2.0
    assert result["machine"]["cpus"] >= 1


def test_planned_makespan_runs_tiny() -> None:
    result = _run("planned_makespan.py", "--seeds", "2")
    assert [r["seed"] for r in result["runs"]] == [1, 2]
    for run in result["runs"]:
        assert run["makespan_seconds"] >= run["lower_bound_seconds"] > 0
        assert run["ratio"] >= 1.0
        assert run["work_seconds"] > run["makespan_seconds"]  # work was spread over the fleet
    assert result["ratio_max"] == max(r["ratio"] for r in result["runs"])
