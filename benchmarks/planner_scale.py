"""Times dtf's planner on a synthetic campaign of 100,000 tests in 200 suites (target < 2 s).

    .venv/bin/python benchmarks/planner_scale.py                 # full size, 5 repetitions
    .venv/bin/python benchmarks/planner_scale.py --size tiny     # 1,000 tests in 10 suites

Measures plan_campaign (DAG, history lookup, LPT shards, the manifest) from collected ids and
a history map, as the flow calls it; and, separately, the makespan estimate `dtf plan` adds.
Collection (pytest) and the store query are not included: they are I/O, timed elsewhere.
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

SIZES = {"full": (100_000, 200), "tiny": (1_000, 10)}


Collected = dict[str, list[str]]
History = dict[str, dict[str, float]]


def synthetic(tests: int, suites: int, seed: int) -> tuple[Campaign, Collected, History]:
    """A campaign with mixed hardware, grouping, batch keys and a few dependencies."""
    rng = random.Random(seed)
    per_suite = tests // suites
    specs: list[Suite] = []
    collected: Collected = {}
    history: History = {}
    for i in range(suites):
        name = f"suite{i:03d}"
        specs.append(
            Suite(
                name=name,
                requires={"cuda": 1.0} if i % 5 == 0 else {"cpu": 1.0},
                grouping=("test", "file", "class")[i % 3],
                batch_by=r"\[(model\d+)-" if i % 7 == 0 else None,
                depends_on=(f"suite{i - 1:03d}",) if i % 20 == 19 else (),
                priority=i % 3,
            )
        )
        ids = [
            f"tests/{name}/test_f{j // 50}.py::TestC{j // 10 % 5}::test_{j}[model{j % 8}-x]"
            for j in range(per_suite)
        ]
        collected[name] = ids
        # 80% of tests have history; durations are skewed (lognormal, median ~0.6 s).
        history[name] = {n: rng.lognormvariate(-0.5, 1.4) for n in ids if rng.random() < 0.8}
    spec = Campaign(
        name="scale",
        defaults=Defaults(shard_target_seconds=60.0, max_shards=200),
        suites=tuple(specs),
    )
    return spec, collected, history


def fleet(workers: int) -> list[Worker]:
    """A fleet of CPU workers, every fourth with one GPU."""
    return [
        Worker(f"w{i}", {"cpu": 4.0, **({"cuda": 1.0} if i % 4 == 0 else {})}, threads=4)
        for i in range(workers)
    ]


def run(size: str, repeat: int, seed: int) -> dict[str, Any]:
    tests, suites = SIZES[size]
    spec, collected, history = synthetic(tests, suites, seed)
    plan_times, plan_cpu, estimate_times = [], [], []
    manifest = None
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        manifest = plan_campaign(
            spec, collected, history=history, run_id="bench", rootdir="/src", python=sys.executable
        )
        plan_times.append(time.perf_counter() - started)
        # On a shared machine wall time includes waiting for a core; CPU time does not.
        plan_cpu.append(time.process_time() - cpu)
        started = time.perf_counter()
        estimate_schedule(
            manifest.shards,
            levels=manifest.levels,
            depends_on=manifest.depends_on(),
            fleet=fleet(32),
        )
        estimate_times.append(time.perf_counter() - started)
    assert manifest is not None
    return {
        "size": size,
        "tests": manifest.planned_tests(),
        "suites": len(manifest.suites),
        "shards": len(manifest.shards),
        "repetitions": repeat,
        "seed": seed,
        "plan_seconds": _stats(plan_times),
        "plan_cpu_seconds": _stats(plan_cpu),
        "estimate_seconds": _stats(estimate_times),
        "target_plan_seconds": 2.0,
        "machine": machine(),
    }


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args()
    result = run(args.size, args.repeat, args.seed)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    plan, est = result["plan_seconds"], result["estimate_seconds"]
    print(
        f"planner scale ({args.size}): {result['tests']} tests, {result['suites']} suites "
        f"-> {result['shards']} shards; {args.repeat} repetitions, seed {args.seed}"
    )
    verdict = "met" if plan["max"] < 2 else "MISSED"
    print(
        f"  plan_campaign: median {plan['median']:.3f} s (min {plan['min']:.3f}, "
        f"max {plan['max']:.3f}); target < 2 s: {verdict}"
    )
    print(f"  plan_campaign CPU time: median {result['plan_cpu_seconds']['median']:.3f} s")
    print(f"  makespan estimate on 32 workers: median {est['median']:.3f} s")
    print(f"  machine: {result['machine']}")


if __name__ == "__main__":
    main()
