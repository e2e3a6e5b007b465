"""Writes campaign runs into a real ResultStore, the way the campaign flow does."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dtf.execution.outcomes import CaseResult, Metric, Outcome, ShardOutcome
from dtf.store.results import ResultStore, ShardRecord


@dataclass
class Case:
    """One test's result in a seeded run."""

    test_id: str
    outcome: Outcome = "passed"
    duration: float = 0.1
    message: str = ""
    metrics: tuple[Metric, ...] = ()


@dataclass
class SeededShard:
    """A shard of a seeded run: its suite, hardware, status and cases."""

    shard_id: str
    suite: str
    cases: Sequence[Case]
    hardware: str = "cpu"
    status: str = "done"
    attempt: int = 0


@dataclass
class SeededRun:
    run_id: str
    shards: list[SeededShard] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)


def seed_run(
    store: ResultStore,
    run_id: str,
    shards: Iterable[SeededShard],
    *,
    campaign: str = "nightly",
    started_at: float = 1_000.0,
    completed: bool = True,
    verdict: str = "passed",
    planned: int | None = None,
    ref: str | None = None,
) -> None:
    """Start run `run_id`, write its shards, and (by default) complete it."""
    shard_list = list(shards)
    count = planned if planned is not None else sum(len(s.cases) for s in shard_list)
    store.start_run(
        run_id,
        campaign,
        source=".",
        parameters={},
        planned_tests=count,
        started_at=started_at,
        ref=ref,
    )
    for shard in shard_list:
        outcome = ShardOutcome(
            shard.shard_id,
            [
                CaseResult(c.test_id, c.outcome, c.duration, c.message, metrics=c.metrics)
                for c in shard.cases
            ],
            launches=1,
            wall_seconds=sum(c.duration for c in shard.cases),
            worker="w0",
            hardware=shard.hardware,
        )
        record = ShardRecord(
            run_id, shard.shard_id, shard.suite, shard.attempt, {}, len(shard.cases), 1.0
        )
        store.write_shard(record, outcome, status=shard.status)
    if completed:
        store.update_run(run_id, status="completed", verdict=verdict, finished_at=started_at + 60)


def write_manifest(home: Path, run_id: str, shards: dict[str, Sequence[str]]) -> Path:
    """A minimal manifest (shard ids and node ids) where the campaign flow keeps it."""
    path = home / "runs" / run_id / "manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "run_id": run_id,
        "shards": [{"shard_id": k, "nodeids": list(v)} for k, v in shards.items()],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def cases(prefix: str, n: int, outcome: Outcome = "passed", **kw: object) -> list[Case]:
    """`n` cases named <prefix>::test_<i> with the same outcome."""
    return [Case(f"{prefix}::test_{i}", outcome, **kw) for i in range(n)]  # type: ignore[arg-type]
