"""A test's history across runs: outcome, duration, hardware and worker per attempt."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from dtf.errors import StoreError
from dtf.store.results import ResultStore
from dtf.store.schema import results, runs

MESSAGE_CHARS = 200


def resolve_test_id(store: ResultStore, test: str) -> str:
    """`test` if it is a stored test id, else the one stored id that contains it."""
    exact = select(results.c.test_id).where(results.c.test_id == test).limit(1)
    near = (
        select(results.c.test_id)
        .where(results.c.test_id.contains(test, autoescape=True))
        .distinct()
        .order_by(results.c.test_id)
        .limit(6)
    )
    with store.transaction() as conn:
        if conn.execute(exact).first():
            return test
        matches = list(conn.execute(near).scalars())
    if len(matches) == 1:
        return str(matches[0])
    if not matches:
        raise StoreError(f"no test matching '{test}' in the results store {store.location}")
    shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
    raise StoreError(f"'{test}' matches several tests: {shown}; give the full test id")


def history_of(store: ResultStore, test_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The test's attempts in the latest `limit` runs that ran it, newest first."""
    recent = (
        select(results.c.run_id)
        .join(runs, runs.c.run_id == results.c.run_id)
        .where(results.c.test_id == test_id)
        .group_by(results.c.run_id, runs.c.started_at)
        .order_by(runs.c.started_at.desc(), results.c.run_id.desc())
        .limit(limit)
    )
    query = (
        select(
            results.c.run_id, runs.c.campaign, runs.c.started_at, results.c.suite,
            results.c.attempt, results.c.outcome, results.c.duration, results.c.hardware,
            results.c.worker,
            func.substr(results.c.message, 1, MESSAGE_CHARS).label("message"),
        )
        .join(runs, runs.c.run_id == results.c.run_id)
        .where(results.c.test_id == test_id, results.c.run_id.in_(recent))
        .order_by(runs.c.started_at.desc(), results.c.run_id.desc(), results.c.attempt.desc())
    )  # fmt: skip
    with store.transaction() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
