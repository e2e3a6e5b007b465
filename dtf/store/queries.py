"""Reusable SQLAlchemy Core selects over the results schema, shared by the store and analysis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, Select, Subquery, case, func, literal, select

from dtf.execution.outcomes import FAILING_OUTCOMES
from dtf.store.schema import results, runs

FAILING = tuple(sorted(FAILING_OUTCOMES))
# Outcomes that count as "ran and did what it should" for a pass rate; flaky is not a pass.
PASSING = ("passed", "xpassed", "xfailed")


def latest_results(run_ids: Sequence[str] | Select[Any]) -> Subquery:
    """The results of `run_ids`, keeping only each test's highest attempt in each run.

    A test is a (suite, test_id) pair: two suites may run the same test on other hardware.

    Also carries `attempts` and `failed_attempts`: how many attempts of the test ran in that
    run and how many failed, which is what tells a pass on rerun from a plain pass.
    """
    failed = results.c.outcome.in_(FAILING).cast(Integer)
    ranked = select(
        results,
        func.row_number()
        .over(
            partition_by=(results.c.run_id, results.c.suite, results.c.test_id),
            order_by=results.c.attempt.desc(),
        )
        .label("rank"),
        func.sum(failed)
        .over(partition_by=(results.c.run_id, results.c.suite, results.c.test_id))
        .label("failed_attempts"),
        func.count()
        .over(partition_by=(results.c.run_id, results.c.suite, results.c.test_id))
        .label("attempts"),
    ).where(results.c.run_id.in_(run_ids if isinstance(run_ids, Select) else list(run_ids)))
    sub = ranked.subquery()
    return select(*[c for c in sub.c if c.name != "rank"]).where(sub.c.rank == 1).subquery()


def is_failing(column: Any) -> Any:
    """SQL 1 when `column` (an outcome) fails a campaign, else 0."""
    return case((column.in_(FAILING), literal(1)), else_=literal(0))


def run_order() -> Any:
    """Runs in time order: started_at, then run_id so equal starts still order the same way."""
    return (runs.c.started_at, runs.c.run_id)
