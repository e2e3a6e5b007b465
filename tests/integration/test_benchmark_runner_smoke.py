"""The runner benchmarks run end to end at a tiny size and print their figures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent.parent / "benchmarks"
NUMBER = r"(-?\d+\.\d+)"


def run_benchmark(name: str, *args: str) -> str:
    # Only dtf's plugin in the benchmarked pytest processes: the smoke run stays quick.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_runner_overhead_prints_both_times_and_the_ratio() -> None:
    size = "30"
    out = run_benchmark("runner_overhead.py", "--size", size, "--repeat", "1")
    assert re.search(r"machine: nproc=\d+ .*python=3\.", out)
    assert f"tests: {size} trivial" in out
    assert "command: python -m pytest -q -p no:cacheprovider" in out
    for label in ("plain pytest", "plain pytest, by node ids", "dtf run_shard, one shard"):
        assert re.search(rf"{re.escape(label)} +wall +{NUMBER} s +cpu +{NUMBER} s", out), label
    ratio = re.search(rf"ratio dtf/plain: wall {NUMBER}  cpu {NUMBER}", out)
    assert ratio is not None and float(ratio.group(1)) > 0 and float(ratio.group(2)) > 0
    assert re.search(rf"overhead per test vs plain: cpu {NUMBER} ms", out)


def test_crash_recovery_prints_the_cost_of_one_crash() -> None:
    out = run_benchmark("crash_recovery.py", "--size", "10", "--repeat", "1")
    assert "shard: 10 trivial tests, 100 per module, test 5 crashes (segfault)" in out
    without = re.search(rf"without crash: wall +{NUMBER} s +cpu +{NUMBER} s", out)
    with_crash = re.search(rf"with crash: +wall +{NUMBER} s +cpu +{NUMBER} s", out)
    cost = re.search(rf"cost of one crash recovery: wall {NUMBER} s  cpu {NUMBER} s", out)
    assert without and with_crash and cost
    # One repetition: the cost is the difference of the two runs.
    assert abs(float(with_crash[1]) - float(without[1]) - float(cost[1])) < 2e-3
    assert abs(float(with_crash[2]) - float(without[2]) - float(cost[2])) < 2e-3


def test_dask_idle_cpu_prints_both_settings_and_their_ratio() -> None:
    out = run_benchmark("dask_idle_cpu.py", "--workers", "1", "--seconds", "1", "--repeat", "1",
                        "--settle", "0.5")  # fmt: skip
    assert "cluster: 1 scheduler + 1 one-thread workers with nannies, idle 1 s" in out
    for label in ("dask defaults", "dtf quiet"):
        found = re.search(rf"{label} +idle cpu +{NUMBER}% of a core", out)
        assert found is not None and float(found[1]) >= 0.0, label
    assert re.search(r"ratio defaults/quiet: (\d+\.\d|inf)", out)
