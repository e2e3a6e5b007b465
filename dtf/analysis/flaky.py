"""Flakiness per test over a window of runs, in SQL: flip rate and pass-on-rerun rate."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import case, func, literal, select

from dtf.analysis.runs import get_run, window_ids
from dtf.store.queries import FAILING, PASSING, latest_results
from dtf.store.results import ResultStore
from dtf.store.schema import runs

DEFAULT_WINDOW = 30


@dataclass(frozen=True)
class FlakyTest:
    """A test whose outcome flips between runs or that passes when re-run.

    `flip_rate`: changes between failing and not failing from one run to the next, over the
    runs it had minus one. `reruns`: runs in which it was run again (more than one attempt, or
    a flaky verdict); `pass_on_rerun_rate`: the share of those that ended passing (or flaky).
    `flakiness` is the larger of the flip rate and the share of all its runs that passed on a
    rerun; the list is ranked by it.
    """

    test_id: str
    suite: str
    runs: int
    failures: int
    flips: int
    flip_rate: float
    reruns: int
    passed_on_rerun: int
    pass_on_rerun_rate: float | None
    flakiness: float
    last_seen: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def flaky_tests(
    store: ResultStore,
    *,
    run_id: str | None = None,
    campaign: str | None = None,
    window: int = DEFAULT_WINDOW,
    limit: int | None = 50,
) -> list[FlakyTest]:
    """Tests ranked by flakiness over the last `window` runs (up to `run_id`, if given).

    A test is listed when it flipped at least twice or passed on a rerun at least once: a
    single flip is a break or a fix, which the baseline diff reports instead.
    """
    run = get_run(store, run_id) if run_id else None
    latest = latest_results(window_ids(run, window, campaign))
    per_run = _per_run(latest).subquery()
    query = _per_test(per_run)
    with store.transaction() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    found = [_verdict(row) for row in rows]
    found.sort(key=lambda t: (-t.flakiness, -t.runs, t.test_id))
    return found[:limit] if limit else found


def _per_run(latest: Any) -> Any:
    """One row per (test, run): failing or not, a rerun that passed, and the previous state."""
    failing = case((latest.c.outcome.in_(FAILING), literal(1)), else_=literal(0))
    retried = case(
        ((latest.c.attempts > 1) | (latest.c.outcome == "flaky"), literal(1)),
        else_=literal(0),
    )
    ended_ok = latest.c.outcome.in_((*PASSING, "flaky"))
    order = (runs.c.started_at, runs.c.run_id)
    return (
        select(
            latest.c.test_id,
            latest.c.suite,
            latest.c.run_id,
            runs.c.started_at,
            failing.label("failing"),
            retried.label("retried"),
            case((ended_ok & (retried == 1), literal(1)), else_=literal(0)).label("rerun_ok"),
            func.lag(failing)
            .over(partition_by=(latest.c.suite, latest.c.test_id), order_by=order)
            .label("prev"),
        )
        .join(runs, runs.c.run_id == latest.c.run_id)
        .where(latest.c.outcome != "skipped")
    )


def _per_test(per_run: Any) -> Any:
    flip = case(
        (per_run.c.prev.is_not(None) & (per_run.c.prev != per_run.c.failing), literal(1)),
        else_=literal(0),
    )
    flips = func.sum(flip).label("flips")
    reruns_ok = func.sum(per_run.c.rerun_ok).label("passed_on_rerun")
    return (
        select(
            per_run.c.test_id,
            per_run.c.suite,
            func.count().label("runs"),
            func.sum(per_run.c.failing).label("failures"),
            flips,
            func.sum(per_run.c.retried).label("reruns"),
            reruns_ok,
            func.max(per_run.c.started_at).label("last_seen"),
        )
        .group_by(per_run.c.suite, per_run.c.test_id)
        .having((func.sum(flip) >= 2) | (func.sum(per_run.c.rerun_ok) >= 1))
    )


def _verdict(row: dict[str, Any]) -> FlakyTest:
    runs_n = int(row["runs"])
    flips = int(row["flips"])
    reruns = int(row["reruns"])
    ok = int(row["passed_on_rerun"])
    flip_rate = flips / (runs_n - 1) if runs_n > 1 else 0.0
    return FlakyTest(
        test_id=row["test_id"], suite=row["suite"], runs=runs_n,
        failures=int(row["failures"]), flips=flips, flip_rate=flip_rate, reruns=reruns,
        passed_on_rerun=ok, pass_on_rerun_rate=ok / reruns if reruns else None,
        flakiness=max(flip_rate, ok / runs_n), last_seen=float(row["last_seen"]),
    )  # fmt: skip
