"""Runs a sleep-based campaign on a simulated fleet and compares its makespan with the bound."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dtf.cluster.fleetfile import load_fleet_profile
from dtf.planning.schedule import Worker, lower_bound
from dtf.planning.shards import Shard
from dtf.store.results import ResultStore

DTF = Path(sys.executable).with_name("dtf")
GOAL = 1.10
PROFILE = """description: 2 cpu workers, 1 a100, 1 mi250 (simulated)
workers:
  - name: cpu
    count: 2
  - name: a100
    nvidia:
      - {name: NVIDIA A100-SXM4-80GB, memory_gb: 80, compute_capability: "8.0"}
  - name: mi250
    amd:
      - {name: AMD Instinct MI250X/MI250, memory_gb: 64, gfx: gfx90a}
"""
# suite -> (needs, depends_on, test seconds at --scale 1): a build check everything waits
# for, CPU unit tests, GPU suites on the scarce accelerators, CPU integration tests last.
SUITES: dict[str, tuple[dict[str, float], tuple[str, ...], list[float]]] = {
    "build": ({"cpu": 1}, (), [2.0]),
    "unit": ({"cpu": 1}, ("build",), [1.0, 2.0, 3.0, 4.0, 5.0] * 10),
    "cuda": ({"cuda": 1}, ("build",), [4.0, 6.0, 8.0, 10.0] * 6),
    "rocm": ({"rocm": 1}, ("build",), [3.0, 5.0, 7.0, 9.0] * 6),
    "integration": ({"cpu": 1}, ("unit",), [3.0, 5.0] * 4),
}
LEVELS = (("build",), ("unit", "cuda", "rocm"), ("integration",))


def write_campaign(root: Path, scale: float, target: float) -> dict[str, list[float]]:
    """The campaign YAML and its sleep tests; returns each suite's test durations."""
    suites = []
    durations: dict[str, list[float]] = {}
    for name, (needs, depends, seconds) in SUITES.items():
        folder = root / "tests" / name
        folder.mkdir(parents=True)
        durations[name] = [round(s * scale, 3) for s in seconds]
        body = "import time\n\n\n" + "".join(
            f"def test_{i}():\n    time.sleep({s})\n\n\n" for i, s in enumerate(durations[name])
        )
        (folder / f"test_{name}.py").write_text(body, encoding="utf-8")
        suites.append({"name": name, "select": {"paths": [f"tests/{name}"]},
                       "requires": needs, "depends_on": list(depends)})  # fmt: skip
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    spec = {"name": "makespan", "source": ".",
            "defaults": {"shard_target_seconds": target, "max_overhead_share": 0.05,
                         "default_test_seconds": 1.0},
            "suites": suites}  # fmt: skip
    (root / "campaign.yaml").write_text(json.dumps(spec, indent=2), encoding="utf-8")
    (root / "fleet.yaml").write_text(PROFILE, encoding="utf-8")
    return durations


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return {**env, "DTF_HOME": str(home)}


def dtf(home: Path, *args: str) -> None:
    done = subprocess.run([str(DTF), *args], cwd=home, env=env_for(home), capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"dtf {' '.join(args)} failed ({done.returncode}):\n"
                         f"{(done.stdout + done.stderr)[-3000:]}")  # fmt: skip


def measured(home: Path, run_id: str, fleet: list[Worker]) -> tuple[float, float, float]:
    """(makespan from flow start, makespan from first shard start, bound of the run shards)."""
    store = ResultStore(f"duckdb:///{home / 'dtf.duckdb'}", lock_timeout=30.0)
    try:
        run = store.run(run_id)
        rows = [r for r in store.shards_of(run_id) if r["finished_at"] is not None]
    finally:
        store.close()
    if run is None or not rows:
        raise SystemExit(f"run {run_id} left no shards in the store")
    end = max(r["finished_at"] for r in rows)
    first = min(r["started_at"] for r in rows)
    shards = [Shard(r["shard_id"], r["suite"], (), json.loads(r["needs"]),
                    r["finished_at"] - r["started_at"]) for r in rows]  # fmt: skip
    depends = {name: spec[1] for name, spec in SUITES.items()}
    bound = lower_bound(shards, levels=LEVELS, depends_on=depends, fleet=fleet)
    return end - run["started_at"], end - first, bound.seconds


def planned_bound(durations: dict[str, list[float]], fleet: list[Worker]) -> float:
    """The bound of the tests' own sleep time, every suite one test per 'shard' (no overhead)."""
    shards = [Shard(f"{name}-{i}", name, (), SUITES[name][0], s)
              for name, seconds in durations.items() for i, s in enumerate(seconds)]  # fmt: skip
    depends = {name: spec[1] for name, spec in SUITES.items()}
    return lower_bound(shards, levels=LEVELS, depends_on=depends, fleet=fleet).seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=float, default=1.0, help="scales every test's sleep")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs (median reported)")
    parser.add_argument("--target", type=float, default=10.0, help="shard target seconds")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="dtf-bench-makespan-"))
    home = tmp / "home"
    home.mkdir()
    try:
        durations = write_campaign(tmp, args.size, args.target)
        fleet = [Worker(p.name, dict(p.resources), p.nthreads)
                 for p in load_fleet_profile(tmp / "fleet.yaml")]  # fmt: skip
        began = time.perf_counter()
        dtf(home, "server", "up")
        dtf(home, "cluster", "up", "--profile", str(tmp / "fleet.yaml"))
        setup = time.perf_counter() - began
        campaign = str(tmp / "campaign.yaml")
        dtf(home, "run", campaign, "--run-id", "history")  # duration history for the planner
        samples = []
        for index in range(args.repeat):
            # dtf restarts a cluster (as a default one) when dtf's code changed since it
            # started (dtf.fingerprint): bring the fleet up again, untimed, before each run.
            dtf(home, "cluster", "up", "--profile", str(tmp / "fleet.yaml"))
            dtf(home, "run", campaign, "--run-id", f"timed-{index}")
            samples.append(measured(home, f"timed-{index}", fleet))
        report(args, durations, fleet, samples, setup)
    finally:
        subprocess.run([str(DTF), "down"], cwd=home, env=env_for(home), capture_output=True,
                       check=False, timeout=120)  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def report(
    args: argparse.Namespace,
    durations: dict[str, list[float]],
    fleet: list[Worker],
    samples: list[tuple[float, float, float]],
    setup: float,
) -> None:
    tests = sum(len(v) for v in durations.values())
    work = sum(sum(v) for v in durations.values())
    print(f"machine: nproc={os.cpu_count()} load={os.getloadavg()[0]:.1f} "
          f"python={platform.python_version()} {platform.platform()}")  # fmt: skip
    print(f"fleet: {len(fleet)} workers ({', '.join(w.name for w in fleet)}), simulated GPUs")
    print(f"campaign: {len(durations)} suites, {tests} sleep tests, {work:.1f} s of sleep, "
          f"levels {' -> '.join('+'.join(level) for level in LEVELS)}; "
          f"shard target {args.target:g} s; size {args.size:g}")  # fmt: skip
    print(f"command: dtf run campaign.yaml (after dtf server up + dtf cluster up --profile, "
          f"{setup:.1f} s, and one untimed run for history); median of {args.repeat}")  # fmt: skip
    flow, shards, bound = (statistics.median(s[i] for s in samples) for i in range(3))
    ideal = planned_bound(durations, fleet)
    runs = ", ".join(f"{a:.1f}/{b:.1f}/{c:.1f}" for a, b, c in samples)
    print(f"makespan from flow start   {flow:8.2f} s   [flow/shards/bound: {runs}]")
    print(f"makespan from first shard  {shards:8.2f} s")
    print(f"lower bound (run shards)   {bound:8.2f} s")
    print(f"lower bound (test sleeps)  {ideal:8.2f} s")
    ratio = flow / bound
    print(f"ratio makespan/bound: {ratio:.3f} (from first shard {shards / bound:.3f}; "
          f"against sleeps only {flow / ideal:.3f})")  # fmt: skip
    print(f"goal makespan/bound < {GOAL:g}: {'met' if ratio < GOAL else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())
