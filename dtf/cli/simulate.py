"""`dtf simulate`: replays a campaign plan on a declared fleet with the real planner and ladder."""

from __future__ import annotations

import gc
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dtf.cli.app import app, console
from dtf.cluster.fleetfile import load_fleet_profile
from dtf.config import database_url
from dtf.errors import DtfError
from dtf.planning.schedule import Worker
from dtf.recovery.registry import default_ladder
from dtf.simulation.model import Faults, Orchestration, SimResult
from dtf.simulation.sweep import SweepPoint, best_target, sweep_targets
from dtf.simulation.workload import Suite, cpu_fleet, fleet_classes, synthetic_suites
from dtf.store.results import ResultStore

COLUMNS = ("target s", "shards", "makespan s", "bound s", "ratio", "util", "queue p95 s",
           "submit p95 s", "runs/s need", "flow-bound", "recoveries")  # fmt: skip


@app.command()
def simulate(
    tests: Annotated[int, typer.Option(min=1, help="Tests in the synthetic campaign.")] = 10_000,
    suites: Annotated[int, typer.Option(min=1, help="Suites they are spread over.")] = 10,
    workers: Annotated[int, typer.Option(min=1, help="CPU workers (without --fleet).")] = 100,
    fleet: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="A fleet profile YAML.")
    ] = None,
    shard_target: Annotated[
        list[float] | None,
        typer.Option("--shard-target", help="Shard target seconds; repeat it to sweep."),
    ] = None,
    failure_rate: Annotated[
        float, typer.Option(min=0.0, help="Worker deaths per worker-hour.")
    ] = 0.0,
    fail_at: Annotated[
        list[str] | None,
        typer.Option("--fail-at", help="Kill a worker: SECONDS:WORKER (repeatable)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for durations and failures.")] = 0,
    median: Annotated[float, typer.Option(min=0.0001, help="Median test seconds.")] = 0.5,
    sigma: Annotated[float, typer.Option(min=0.0, help="Lognormal spread of durations.")] = 1.0,
    depth: Annotated[int, typer.Option(min=1, help="Levels of suite dependencies.")] = 1,
    from_run: Annotated[
        str | None, typer.Option(help="Replay the durations a stored run measured.")
    ] = None,
    submit_rate: Annotated[float, typer.Option(min=0.1, help="Task runs/s one flow submits.")] = (
        Orchestration().submit_rate
    ),
    task_overhead: Annotated[float, typer.Option(min=0.0, help="Seconds per task run.")] = (
        Orchestration().task_overhead
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Simulate a campaign on a fleet: makespan, utilization, queueing, recovery, orchestration.

    Uses dtf's own planner (LPT shards, submission order, lower bound) and its recovery
    ladder, book and circuits; only the clock is simulated. Repeat --shard-target to sweep
    shard sizes and see which one gives the shortest campaign.
    """
    started = time.perf_counter()
    cpu_started = time.process_time()
    pool = _fleet(fleet, workers)
    chosen = _suites(from_run, tests, suites, pool, median, sigma, depth, seed)
    faults = Faults(failure_rate, _fail_at(fail_at or [], pool), seed=seed)
    orch = Orchestration(submit_rate, task_overhead)
    # Millions of small objects, none cyclic: the collector's full passes would only cost time.
    gc.disable()
    try:
        points = sweep_targets(chosen, pool, default_ladder(), shard_target or [60.0],
                               orchestration=orch, faults=faults)  # fmt: skip
    finally:
        gc.enable()
    timing = {"wall_seconds": round(time.perf_counter() - started, 2),
              "cpu_seconds": round(time.process_time() - cpu_started, 2)}  # fmt: skip
    if as_json:
        doc: dict[str, Any] = {"points": [p.result.to_dict() for p in points], **timing}
        best = best_target(points)
        doc["best_target"] = best.target_seconds if best else None
        print(json.dumps(doc, indent=2, default=str))
        return
    _print(points, timing)


def _fleet(path: Path | None, workers: int) -> list[Worker]:
    if path is None:
        return cpu_fleet(workers)
    return [Worker(p.name, dict(p.resources), p.nthreads) for p in load_fleet_profile(path)]


def _suites(
    run_id: str | None,
    tests: int,
    suites: int,
    pool: list[Worker],
    median: float,
    sigma: float,
    depth: int,
    seed: int,
) -> list[Suite]:
    classes = fleet_classes(pool)
    if run_id is None:
        return synthetic_suites(tests, suites, classes=classes, median_seconds=median,
                                sigma=sigma, depth=depth, seed=seed)  # fmt: skip
    store = ResultStore(database_url(), lock_timeout=2.0)
    try:
        rows = store.results_of(run_id)
    finally:
        store.close()
    if not rows:
        raise DtfError(f"run '{run_id}' has no stored test results to replay")
    by_suite: dict[str, dict[str, float]] = {}
    for row in rows:  # ordered by attempt: the last attempt's duration wins
        by_suite.setdefault(row["suite"], {})[row["test_id"]] = float(row["duration"] or 0.0)
    return [Suite(name, durations, classes[i % len(classes)])
            for i, (name, durations) in enumerate(sorted(by_suite.items()))]  # fmt: skip


def _fail_at(items: list[str], pool: list[Worker]) -> tuple[tuple[float, str], ...]:
    names = {w.name for w in pool}
    out = []
    for item in items:
        seconds, _, worker = item.partition(":")
        if worker not in names:
            raise DtfError(f"--fail-at {item}: no worker named '{worker}' in the fleet")
        try:
            out.append((float(seconds), worker))
        except ValueError as exc:
            raise DtfError(f"--fail-at {item}: expected SECONDS:WORKER") from exc
    return tuple(out)


def _print(points: list[SweepPoint], timing: dict[str, float]) -> None:
    table = Table(title="dtf simulate")
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for point in points:
        table.add_row(*_row(point.result))
    console.print(table)
    first = points[0].result
    console.print(f"{first.tests} tests, {first.workers} workers; submit capacity "
                  f"{first.orchestration.capacity:g} task runs/s; "
                  f"simulated in {timing['wall_seconds']} s wall, "
                  f"{timing['cpu_seconds']} s CPU")  # fmt: skip
    for label, use in first.utilization.items():
        console.print(f"  {label}: {use.workers} workers, utilization {use.utilization:.1%} "
                      f"(target {first.target_seconds:g} s)")  # fmt: skip
    best = best_target(points)
    if best is not None and len(points) > 1:
        console.print(f"best shard target: {best.target_seconds:g} s "
                      f"(makespan {best.result.makespan:.0f} s)")  # fmt: skip


def _row(result: SimResult) -> list[str]:
    load = result.orchestration
    util = sum(u.busy_seconds for u in result.utilization.values())
    slots = sum(u.slots for u in result.utilization.values())
    share = util / (slots * result.makespan) if result.makespan and slots else 0.0
    counts = ", ".join(f"{k}={v}" for k, v in result.recovery_counts().items()) or "-"
    return [
        f"{result.target_seconds:g}", str(result.shards), f"{result.makespan:.1f}",
        f"{result.lower_bound:.1f}", f"{result.ratio:.3f}", f"{share:.1%}",
        f"{result.queue_delay.p95:.1f}", f"{result.submit_delay.p95:.1f}",
        f"{load.demand_rate:.1f}", "yes" if load.bound else "no", counts,
    ]  # fmt: skip
