"""Builds the JSON-ready document `dtf plan` prints: DAG, suites, shards, placement, makespan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dtf.planning.manifest import Manifest
from dtf.planning.placement import hardware_class
from dtf.planning.schedule import Schedule, Worker, submission_order


@dataclass(frozen=True)
class PlanInputs:
    """What the plan was made from, beyond the manifest: for the reader of the plan."""

    campaign_file: str
    fleet_source: str
    dimensions: Mapping[str, Sequence[str]] = field(default_factory=dict)
    excluded: Mapping[str, str] = field(default_factory=dict)  # suite -> why it does not run
    requested_targets: Mapping[str, float] = field(default_factory=dict)
    with_history: Mapping[str, int] = field(default_factory=dict)  # suite -> tests with history
    collect_errors: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    notes: Sequence[str] = ()


def plan_document(
    manifest: Manifest, schedule: Schedule, fleet: Sequence[Worker], inputs: PlanInputs
) -> dict[str, Any]:
    """Everything `dtf plan` shows, as plain data (the --json output)."""
    level_of = {s: i for i, level in enumerate(manifest.levels) for s in level}
    where = {p.shard_id: p for p in schedule.placements}
    shards = []
    ordered = [
        shard
        for level in manifest.levels
        for shard in submission_order([s for s in manifest.shards if s.suite in level], fleet)
    ]
    for shard in ordered:
        slot = where.get(shard.shard_id)
        shards.append(
            {
                "shard_id": shard.shard_id,
                "suite": shard.suite,
                "level": level_of[shard.suite],
                "tests": len(shard.nodeids),
                "estimated_seconds": shard.estimated_seconds,
                "needs": dict(shard.needs),
                "priority": shard.priority,
                "batch_key": shard.batch_key,
                "worker": slot.worker if slot else None,
                "start": round(slot.start, 3) if slot else None,
                "end": round(slot.end, 3) if slot else None,
            }
        )
    return {
        "campaign": manifest.campaign,
        "campaign_file": inputs.campaign_file,
        "matrix": {
            "values": dict(manifest.matrix),
            "dimensions": {k: list(v) for k, v in inputs.dimensions.items()},
            "excluded": dict(inputs.excluded),
        },
        "dag": {"levels": [list(level) for level in manifest.levels]},
        "suites": [_suite(manifest, name, level_of[name], inputs) for name in manifest.suites],
        "shards": shards,
        "fleet": {
            "source": inputs.fleet_source,
            "workers": [
                {"name": w.name, "resources": dict(w.resources), "threads": w.threads}
                for w in fleet
            ],
        },
        "unplaced": list(schedule.unplaced),
        "estimate": _estimate(schedule),
        "notes": list(inputs.notes),
    }


def _suite(manifest: Manifest, name: str, level: int, inputs: PlanInputs) -> dict[str, Any]:
    plan = manifest.suites[name]
    shards = manifest.shards_of(name)
    needs = dict(shards[0].needs) if shards else {}
    return {
        "name": name,
        "level": level,
        "depends_on": list(plan.depends_on),
        "tests": len(plan.tests),
        "tests_with_history": inputs.with_history.get(name, 0),
        "shards": len(shards),
        "estimated_seconds": round(sum(s.estimated_seconds for s in shards), 3),
        "target_seconds": plan.target_seconds,
        "requested_target_seconds": inputs.requested_targets.get(name, plan.target_seconds),
        "needs": needs,
        "hardware": hardware_class(needs) if needs else None,
        "priority": shards[0].priority if shards else 0,
        "collect_errors": dict(inputs.collect_errors.get(name, {})),
    }


def _estimate(schedule: Schedule) -> dict[str, Any]:
    return {
        "makespan_seconds": round(schedule.makespan, 3),
        "lower_bound_seconds": round(schedule.bound.seconds, 3),
        "critical_path_seconds": round(schedule.bound.critical_path, 3),
        "work_per_capacity_seconds": {k: round(v, 3) for k, v in schedule.bound.per_class.items()},
        "ratio": round(schedule.ratio, 4),
    }
