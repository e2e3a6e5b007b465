"""Campaign summary in SQL: counts, pass rates, slowest tests, wall time, orchestration share."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select

from dtf.analysis.runs import get_run
from dtf.store.queries import FAILING, PASSING, latest_results
from dtf.store.results import ResultStore
from dtf.store.schema import results, shards

SLOWEST = 10


@dataclass(frozen=True)
class CampaignSummary:
    """What a run did, from the latest attempt of each test, plus where its time went.

    `pass_rate` is passing / (all tests but skipped), where passing is passed, xpassed or
    xfailed (a flaky verdict is not a pass). `orchestration_share` is the part of the shards'
    wall time not spent inside tests: process start, collection, reporting, retries' setup.
    """

    run: dict[str, Any]
    tests: int
    by_outcome: dict[str, int]
    counts: list[dict[str, Any]]
    by_hardware: list[dict[str, Any]]
    pass_rate: float | None
    slowest: list[dict[str, Any]]
    wall_seconds: float | None
    shard_seconds: float
    test_seconds: float
    orchestration_share: float | None
    shards: int
    failing: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def campaign_summary(store: ResultStore, run_id: str, slowest: int = SLOWEST) -> CampaignSummary:
    run = get_run(store, run_id)
    run_id = run["run_id"]
    latest = latest_results([run_id])
    counts_q = (
        select(latest.c.suite, latest.c.hardware, latest.c.outcome, func.count().label("n"))
        .group_by(latest.c.suite, latest.c.hardware, latest.c.outcome)
        .order_by(latest.c.suite, latest.c.hardware, latest.c.outcome)
    )
    slow_q = (
        select(latest.c.test_id, latest.c.suite, latest.c.hardware, latest.c.outcome,
               latest.c.duration, latest.c.worker)
        .order_by(latest.c.duration.desc(), latest.c.test_id)
        .limit(slowest)
    )  # fmt: skip
    shard_q = select(
        func.count(), func.coalesce(func.sum(shards.c.wall_seconds), 0.0),
        func.min(shards.c.started_at), func.max(shards.c.finished_at),
    ).where(shards.c.run_id == run_id)  # fmt: skip
    test_q = select(func.coalesce(func.sum(results.c.duration), 0.0)).where(
        results.c.run_id == run_id
    )
    with store.transaction() as conn:
        counts = [dict(r) for r in conn.execute(counts_q).mappings()]
        slow = [dict(r) for r in conn.execute(slow_q).mappings()]
        n_shards, shard_seconds, first, last = conn.execute(shard_q).one()
        test_seconds = float(conn.execute(test_q).scalar() or 0.0)
    return _assemble(run, counts, slow, (int(n_shards), float(shard_seconds), first, last),
                     test_seconds)  # fmt: skip


def _assemble(
    run: dict[str, Any],
    counts: list[dict[str, Any]],
    slow: list[dict[str, Any]],
    shard_stats: tuple[int, float, float | None, float | None],
    test_seconds: float,
) -> CampaignSummary:
    n_shards, shard_seconds, _first, last = shard_stats
    by_outcome: dict[str, int] = {}
    for row in counts:
        by_outcome[row["outcome"]] = by_outcome.get(row["outcome"], 0) + int(row["n"])
    tests = sum(by_outcome.values())
    end = run.get("finished_at") or last
    wall = end - run["started_at"] if end is not None else None
    share = max(0.0, 1.0 - test_seconds / shard_seconds) if shard_seconds > 0 else None
    return CampaignSummary(
        run=run, tests=tests, by_outcome=by_outcome, counts=counts,
        by_hardware=_by_hardware(counts), pass_rate=_rate(by_outcome), slowest=slow,
        wall_seconds=wall, shard_seconds=shard_seconds, test_seconds=test_seconds,
        orchestration_share=share, shards=n_shards,
        failing=sum(n for o, n in by_outcome.items() if o in FAILING),
    )  # fmt: skip


def _by_hardware(counts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    grouped: dict[str, dict[str, int]] = {}
    for row in counts:
        per = grouped.setdefault(row["hardware"] or "-", {})
        per[row["outcome"]] = per.get(row["outcome"], 0) + int(row["n"])
    return [
        {"hardware": hw, "tests": sum(per.values()), "pass_rate": _rate(per),
         "failing": sum(n for o, n in per.items() if o in FAILING)}
        for hw, per in sorted(grouped.items())
    ]  # fmt: skip


def _rate(by_outcome: dict[str, int]) -> float | None:
    counted = sum(n for o, n in by_outcome.items() if o != "skipped")
    passing = sum(n for o, n in by_outcome.items() if o in PASSING)
    return passing / counted if counted else None
