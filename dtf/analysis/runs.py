"""Which runs an analysis looks at: a run, its baseline, and windows of earlier runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, func, or_, select

from dtf.errors import StoreError
from dtf.store.results import ResultStore
from dtf.store.schema import runs


def get_run(store: ResultStore, run_id: str) -> dict[str, Any]:
    """The run's row; StoreError naming the closest ids when there is no such run."""
    row = store.run(run_id)
    if row is not None:
        return row
    with store.transaction() as conn:
        near = conn.execute(
            select(runs.c.run_id)
            .where(runs.c.run_id.contains(run_id, autoescape=True))
            .order_by(runs.c.started_at.desc())
            .limit(2)
        ).scalars()
        matches = list(near)
    if len(matches) == 1:
        found = store.run(matches[0])
        assert found is not None
        return found
    hint = f" (did you mean one of {', '.join(matches)}?)" if matches else ""
    raise StoreError(f"no run '{run_id}' in the results store {store.location}{hint}")


def latest_run_id(store: ResultStore, campaign: str | None = None) -> str | None:
    query = select(runs.c.run_id).order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
    if campaign:
        query = query.where(runs.c.campaign == campaign)
    with store.transaction() as conn:
        return conn.execute(query.limit(1)).scalar()


def same_series(run: dict[str, Any]) -> Any:
    """SQL condition: runs of the same campaign and matrix cell as `run`."""
    return and_(
        runs.c.campaign == run["campaign"],
        func.coalesce(runs.c.matrix, "") == (run.get("matrix") or ""),
    )


def before(run: dict[str, Any], inclusive: bool = False) -> Any:
    """SQL condition: runs that started before `run` (ties broken by run id)."""
    tie = runs.c.run_id <= run["run_id"] if inclusive else runs.c.run_id < run["run_id"]
    return or_(
        runs.c.started_at < run["started_at"],
        and_(runs.c.started_at == run["started_at"], tie),
    )


def find_baseline(store: ResultStore, run: dict[str, Any]) -> str | None:
    """The previous completed run of the same campaign and matrix, if any."""
    query = (
        select(runs.c.run_id)
        .where(same_series(run), before(run), runs.c.status == "completed")
        .order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
        .limit(1)
    )
    with store.transaction() as conn:
        return conn.execute(query).scalar()


def window_ids(run: dict[str, Any] | None, window: int, campaign: str | None = None) -> Select[Any]:
    """A select of the last `window` run ids up to `run` (same campaign and matrix), or of
    the latest runs overall (of `campaign` if given) when `run` is None."""
    query = select(runs.c.run_id)
    if run is not None:
        query = query.where(same_series(run), before(run, inclusive=True))
    elif campaign:
        query = query.where(runs.c.campaign == campaign)
    return query.order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(window)
