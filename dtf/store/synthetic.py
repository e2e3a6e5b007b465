"""Runs with chosen results, written through the real store: for tests, demos and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence

from dtf.execution.outcomes import FAILING_OUTCOMES, CaseResult, ShardOutcome
from dtf.store.results import ResultStore, ShardRecord


def record_run(
    store: ResultStore,
    run_id: str,
    cases: Sequence[CaseResult],
    *,
    campaign: str = "demo",
    started_at: float,
    hardware: str = "cpu",
    worker: str = "worker-0",
    suite: str = "unit",
    wall_seconds: float | None = None,
    reruns: Sequence[CaseResult] = (),
    status: str = "completed",
) -> None:
    """Store one run: `cases` as attempt 0 of one shard, `reruns` as attempt 1 of another.

    The verdict follows the final attempt of each test, as the campaign flow decides it.
    """
    store.start_run(run_id, campaign, source="synthetic", parameters={}, started_at=started_at,
                    planned_tests=len(cases))  # fmt: skip
    wall = wall_seconds if wall_seconds is not None else sum(c.duration for c in cases) + 1.0
    first = ShardOutcome(f"{suite}-0", list(cases), launches=1, wall_seconds=wall,
                         worker=worker, hardware=hardware)  # fmt: skip
    store.write_shard(ShardRecord(run_id, f"{suite}-0", suite, 0, {hardware: 1}, len(cases), wall),
                      first)  # fmt: skip
    if reruns:
        again = ShardOutcome(f"{suite}-rerun", list(reruns), launches=1, worker=worker,
                             wall_seconds=sum(c.duration for c in reruns) + 0.5,
                             hardware=hardware)  # fmt: skip
        record = ShardRecord(run_id, f"{suite}-rerun", suite, 1, {hardware: 1}, len(reruns), 1.0)
        store.write_shard(record, again)
    final = {c.nodeid: c.outcome for c in cases} | {c.nodeid: c.outcome for c in reruns}
    failed = any(outcome in FAILING_OUTCOMES for outcome in final.values())
    store.update_run(run_id, status=status, verdict="failed" if failed else "passed",
                     finished_at=started_at + wall + 1.0)  # fmt: skip
