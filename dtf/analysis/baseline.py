"""Baseline diff in SQL: new failures, fixed, still failing, new and removed tests."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, or_, select

from dtf.analysis.runs import find_baseline, get_run
from dtf.store.queries import FAILING, latest_results
from dtf.store.results import ResultStore


@dataclass(frozen=True)
class BaselineDiff:
    """How a run differs from its baseline, test by test (latest attempt of each).

    A test new in this run that fails is listed both in `new_tests` and `new_failures`: it is
    new, and it is broken. `unchanged` counts tests present in both and passing in both.
    """

    run_id: str
    baseline_id: str | None
    new_failures: list[dict[str, Any]]
    fixed: list[dict[str, Any]]
    still_failing: list[dict[str, Any]]
    new_tests: list[dict[str, Any]]
    removed_tests: list[dict[str, Any]]
    unchanged: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def baseline_diff(store: ResultStore, run_id: str, baseline: str | None = None) -> BaselineDiff:
    """Diff `run_id` against `baseline` (a run id), else its previous completed run."""
    run = get_run(store, run_id)
    base_id = get_run(store, baseline)["run_id"] if baseline else find_baseline(store, run)
    if base_id is None:
        return BaselineDiff(run["run_id"], None, [], [], [], [], [], 0)
    rows, unchanged = _changed_rows(store, run["run_id"], base_id)
    return _classify(run["run_id"], base_id, rows, unchanged)


def _changed_rows(
    store: ResultStore, run_id: str, base_id: str
) -> tuple[list[dict[str, Any]], int]:
    """Rows for every test that is new, removed, or failing on either side; a count of the rest.

    The full outer join and the filter run in the database, so only the interesting rows (a
    few, normally) cross into Python even when runs hold hundreds of thousands of tests.
    """
    cur = latest_results([run_id])
    base = latest_results([base_id])
    joined = cur.join(
        base, (cur.c.test_id == base.c.test_id) & (cur.c.suite == base.c.suite), full=True
    )
    interesting = or_(
        cur.c.test_id.is_(None),
        base.c.test_id.is_(None),
        cur.c.outcome.in_(FAILING),
        base.c.outcome.in_(FAILING),
    )
    query = (
        select(
            func.coalesce(cur.c.test_id, base.c.test_id).label("test_id"),
            func.coalesce(cur.c.suite, base.c.suite).label("suite"),
            cur.c.outcome.label("outcome"),
            base.c.outcome.label("baseline_outcome"),
            cur.c.hardware.label("hardware"),
            cur.c.message.label("message"),
        )
        .select_from(joined)
        .where(interesting)
        .order_by("test_id", "suite")
    )
    count = select(func.count()).select_from(joined).where(~interesting)
    with store.transaction() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
        unchanged = int(conn.execute(count).scalar() or 0)
    return rows, unchanged


def _classify(
    run_id: str, base_id: str, rows: list[dict[str, Any]], unchanged: int
) -> BaselineDiff:
    new_failures, fixed, still, new, removed = [], [], [], [], []
    for row in rows:
        now, then = row["outcome"], row["baseline_outcome"]
        failing_now, failing_then = now in FAILING, then in FAILING
        if now is None:
            removed.append(row)
            continue
        if then is None:
            new.append(row)
        if failing_now and failing_then:
            still.append(row)
        elif failing_now:
            new_failures.append(row)
        elif failing_then:
            fixed.append(row)
    return BaselineDiff(run_id, base_id, new_failures, fixed, still, new, removed, unchanged)
