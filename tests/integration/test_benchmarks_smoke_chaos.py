"""The chaos benchmark runs end to end at a tiny size: one kill, nothing lost or duplicated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent.parent / "benchmarks"


# It starts a Prefect server and Dask cluster of its own and runs three real campaigns, about
# a minute and a half on the 2-core CI machine: opt in with DTF_BENCHMARK_SMOKE=1, like the
# other benchmark smoke tests that start services.
@pytest.mark.e2e
@pytest.mark.skipif(
    os.environ.get("DTF_BENCHMARK_SMOKE") != "1",
    reason="starts its own Prefect server and cluster; set DTF_BENCHMARK_SMOKE=1 to run",
)
def test_chaos_kills_one_worker_and_the_store_holds_every_result_once(tmp_path: Path) -> None:
    report = tmp_path / "chaos.json"
    env = {k: v for k, v in os.environ.items() if k != "DTF_HOME"}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "chaos_kills.py"), "--runs", "1", "--baseline-runs",
         "1", "--tests", "20", "--workers", "2", "--shard-target", "1", "--json", str(report)],
        capture_output=True, text=True, env=env, timeout=400, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(report.read_text(encoding="utf-8"))
    [run] = doc["runs"]
    # The kill landed on a worker that was running a shard, and dtf saw the worker die.
    assert run["kill"] is not None and run["kill"]["worker"].startswith("dtf-worker-")
    assert run["kill"]["shard_pids"]
    assert "worker_lost" in {e["error_class"] for e in run["audit"]["events"]}
    assert run["audit"]["lost"] == 0 and run["audit"]["duplicated"] == 0
    assert run["audit"]["verdict"] == "passed" and run["audit"]["planned"] == 20
    assert doc["summary"]["lost"] == 0 and doc["summary"]["duplicated"] == 0
    assert doc["summary"]["kills"] == 1 and doc["summary"]["extra_median"] is not None
    assert "summary: 1 chaos runs, 1 kills landed; lost 0 (must be 0), duplicated 0" in done.stdout
