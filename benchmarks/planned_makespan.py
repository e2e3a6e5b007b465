"""Planned makespan over its lower bound on a synthetic campaign with skewed durations.

    .venv/bin/python benchmarks/planned_makespan.py               # full size, 5 seeds
    .venv/bin/python benchmarks/planned_makespan.py --size tiny   # seconds, for the smoke test

The campaign: suites of tests whose durations are heavy-tailed (lognormal, a few tests of
minutes among many of milliseconds), a quarter of the suites on CUDA, some suites depending
on a smoke suite. dtf plans it (LPT shards, 60 s target) and estimates the makespan on a
fleet by list scheduling; the lower bound is max(critical path, work / capacity per
hardware class). Target: ratio < 1.05.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from typing import Any

from dtf.planning.campaign import plan_campaign
from dtf.planning.schedule import Worker, estimate_schedule
from dtf.spec.models import Campaign, Defaults, Suite

# (tests, suites, cpu workers, cuda workers)
SIZES = {"full": (25_000, 40, 16, 4), "tiny": (1_200, 6, 3, 1)}


Collected = dict[str, list[str]]
History = dict[str, dict[str, float]]


def synthetic(tests: int, suites: int, seed: int) -> tuple[Campaign, Collected, History]:
    rng = random.Random(seed)
    specs: list[Suite] = [Suite(name="smoke", priority=10)]
    collected: Collected = {"smoke": [f"tests/smoke.py::test_{j}" for j in range(50)]}
    history: History = {"smoke": dict.fromkeys(collected["smoke"], 0.2)}
    per_suite = tests // suites
    for i in range(suites):
        name = f"suite{i:02d}"
        specs.append(
            Suite(
                name=name,
                requires={"cuda": 1.0} if i % 4 == 0 else {"cpu": 1.0},
                depends_on=("smoke",) if i % 3 == 0 else (),
            )
        )
        ids = [f"tests/{name}/test_{j // 40}.py::test_{j}" for j in range(per_suite)]
        collected[name] = ids
        # Heavy tail: median 0.37 s, 1 in 100 tests over 27 s, the longest several minutes.
        history[name] = {n: min(600.0, rng.lognormvariate(-1.0, 1.8)) for n in ids}
    spec = Campaign(
        name="skewed",
        defaults=Defaults(shard_target_seconds=60.0, max_shards=400),
        suites=tuple(specs),
    )
    return spec, collected, history


def fleet(cpu_workers: int, cuda_workers: int) -> list[Worker]:
    cpu = [Worker(f"cpu{i}", {"cpu": 1.0}) for i in range(cpu_workers)]
    gpu = [Worker(f"gpu{i}", {"cpu": 1.0, "cuda": 1.0}) for i in range(cuda_workers)]
    return gpu + cpu


def run(size: str, seeds: list[int]) -> dict[str, Any]:
    tests, suites, cpu_workers, cuda_workers = SIZES[size]
    workers = fleet(cpu_workers, cuda_workers)
    rows = []
    for seed in seeds:
        spec, collected, history = synthetic(tests, suites, seed)
        started = time.perf_counter()
        manifest = plan_campaign(
            spec, collected, history=history, run_id="bench", rootdir="/src", python=sys.executable
        )
        schedule = estimate_schedule(
            manifest.shards, levels=manifest.levels, depends_on=manifest.depends_on(), fleet=workers
        )
        rows.append(
            {
                "seed": seed,
                "tests": manifest.planned_tests(),
                "shards": len(manifest.shards),
                "work_seconds": round(sum(s.estimated_seconds for s in manifest.shards), 1),
                "makespan_seconds": round(schedule.makespan, 1),
                "lower_bound_seconds": round(schedule.bound.seconds, 1),
                "critical_path_seconds": round(schedule.bound.critical_path, 1),
                "per_class_seconds": {k: round(v, 1) for k, v in schedule.bound.per_class.items()},
                "ratio": round(schedule.ratio, 4),
                "plan_and_estimate_seconds": round(time.perf_counter() - started, 3),
            }
        )
    ratios = [r["ratio"] for r in rows]
    return {
        "size": size,
        "fleet": {"cpu_workers": cpu_workers, "cuda_workers": cuda_workers},
        "runs": rows,
        "ratio_median": statistics.median(ratios),
        "ratio_max": max(ratios),
        "target_ratio": 1.05,
        "machine": machine(),
    }


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next(
                (ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), model
            )
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--seeds", type=int, default=5, help="Repetitions, one seed each.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args()
    result = run(args.size, list(range(1, args.seeds + 1)))
    if args.json:
        print(json.dumps(result, indent=1))
        return
    fleet_desc = result["fleet"]
    print(
        f"planned makespan ({args.size}): fleet of {fleet_desc['cpu_workers']} cpu + "
        f"{fleet_desc['cuda_workers']} cuda workers; {args.seeds} seeds"
    )
    for r in result["runs"]:
        print(
            f"  seed {r['seed']}: {r['tests']} tests, {r['shards']} shards, work "
            f"{r['work_seconds']} s; makespan {r['makespan_seconds']} s / bound "
            f"{r['lower_bound_seconds']} s (critical path {r['critical_path_seconds']} s, "
            f"per class {r['per_class_seconds']}) = {r['ratio']}"
        )
    verdict = "met" if result["ratio_max"] < result["target_ratio"] else "MISSED"
    print(
        f"  ratio median {result['ratio_median']}, max {result['ratio_max']}; "
        f"target < 1.05: {verdict}"
    )
    print(f"  machine: {result['machine']}")


if __name__ == "__main__":
    main()
