"""Runs one simulated campaign per shard target, to show where shard size stops paying."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dtf.planning.schedule import Worker
from dtf.recovery.ladder import RecoveryLadder
from dtf.simulation.engine import simulate
from dtf.simulation.model import Faults, Orchestration, SimResult
from dtf.simulation.workload import DEFAULT_MAX_SHARDS, Suite, plan_workload


@dataclass(frozen=True)
class SweepPoint:
    """One shard target and what the campaign looked like with it."""

    target_seconds: float
    result: SimResult


def sweep_targets(
    suites: Sequence[Suite],
    fleet: Sequence[Worker],
    ladder: RecoveryLadder,
    targets: Sequence[float],
    *,
    orchestration: Orchestration | None = None,
    faults: Faults | None = None,
    max_shards: int = DEFAULT_MAX_SHARDS,
) -> list[SweepPoint]:
    """Plan and simulate the same tests once per target (same fault seed for each)."""
    points = []
    for target in targets:
        workload = plan_workload(suites, target_seconds=target, max_shards=max_shards)
        result = simulate(workload, fleet, ladder, orchestration=orchestration, faults=faults)
        points.append(SweepPoint(target, result))
    return points


def best_target(points: Sequence[SweepPoint]) -> SweepPoint | None:
    """The target with the shortest makespan; among near-equals (within 2%), the largest,
    since fewer task runs also mean less load on the Prefect server."""
    if not points:
        return None
    shortest = min(p.result.makespan for p in points)
    near = [p for p in points if p.result.makespan <= shortest * 1.02]
    return max(near, key=lambda p: p.target_seconds)
