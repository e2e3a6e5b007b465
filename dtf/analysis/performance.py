"""Performance changes: metric and duration series per hardware, through E-divisive means."""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import Select, and_, func, literal, select

from dtf.analysis.changepoints import Settings, e_divisive
from dtf.analysis.runs import get_run, window_ids
from dtf.store.results import ResultStore
from dtf.store.schema import metrics, results, runs

DEFAULT_WINDOW = 30
MIN_POINTS = 6
# A duration shift smaller than this many seconds is scheduling noise, whatever its ratio.
DURATION_MIN_SECONDS = 0.01


@dataclass(frozen=True)
class Series:
    """One metric (or a test's duration) on one hardware class, one value per run in order."""

    kind: str  # "metric" or "duration"
    suite: str
    test_id: str
    name: str
    hardware: str
    unit: str
    run_ids: tuple[str, ...]
    values: tuple[float, ...]

    @property
    def label(self) -> str:
        what = self.name if self.kind == "metric" else "duration"
        return f"{self.test_id} {what} [{self.hardware or '-'}]"


@dataclass(frozen=True)
class PerformanceChange:
    """A change point: from `run_id` on, the series moved from `before` to `after` (means)."""

    kind: str
    suite: str
    test_id: str
    name: str
    hardware: str
    unit: str
    run_id: str
    index: int
    points: int
    before: float
    after: float
    relative: float
    confidence: float
    direction: str  # "up" or "down"
    regression: bool | None  # slower durations are regressions; a metric's good side is unknown

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RegressionReport:
    """The changes found in the window of runs that ends at `run_id`."""

    run_id: str
    window: list[str]
    series_checked: int
    changes: list[PerformanceChange]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_series(
    store: ResultStore,
    run_ids: list[str],
    *,
    durations: bool = True,
    metrics_too: bool = True,
    flat_durations: bool = True,
) -> list[Series]:
    """Series over `run_ids` (in the given time order), at least MIN_POINTS runs long.

    Without `flat_durations`, duration series whose values all lie within
    DURATION_MIN_SECONDS of each other are left out: `detect` can find no change in them.
    """
    rows: list[Any] = []
    with store.transaction() as conn:
        # Plain tuples, not mappings: a window of 30 runs of 10^4 tests is 3 * 10^5 rows.
        if metrics_too:
            rows += conn.execute(_metric_query(run_ids)).all()
        if durations:
            query = _duration_query(run_ids)
            rows += conn.execute(query if flat_durations else _moving(query)).all()
    return _assemble(rows, {rid: i for i, rid in enumerate(run_ids)})


def detect(series: Series, settings: Settings | None = None) -> list[PerformanceChange]:
    """Change points of one series, reproducibly (the permutation seed comes from its label)."""
    base = settings or Settings()
    if series.kind == "duration":
        base = replace(base, min_absolute=max(base.min_absolute, DURATION_MIN_SECONDS))
    seeded = replace(base, seed=base.seed + zlib.crc32(series.label.encode()))
    return [_change(series, p.index, p.before, p.after, p.relative, p.confidence)
            for p in e_divisive(series.values, seeded)]  # fmt: skip


def regressions(
    store: ResultStore,
    run_id: str,
    *,
    window: int = DEFAULT_WINDOW,
    settings: Settings | None = None,
    durations: bool = True,
) -> RegressionReport:
    """Changes in the metric and duration series of the last `window` runs up to `run_id`."""
    run = get_run(store, run_id)
    ordered = ordered_window(store, run, window)
    found = load_series(store, ordered, durations=durations)
    changes = [c for s in found for c in detect(s, settings)]
    position = {rid: i for i, rid in enumerate(ordered)}
    changes.sort(key=lambda c: (-position[c.run_id], -abs(c.relative), c.test_id, c.name))
    return RegressionReport(run["run_id"], ordered, len(found), changes)


def ordered_window(store: ResultStore, run: dict[str, Any] | None, window: int) -> list[str]:
    """Run ids of the window, oldest first."""
    ids = window_ids(run, window).subquery()
    query = (
        select(runs.c.run_id)
        .where(runs.c.run_id.in_(select(ids.c.run_id)))
        .order_by(runs.c.started_at, runs.c.run_id)
    )
    with store.transaction() as conn:
        return list(conn.execute(query).scalars())


# Both queries yield (kind, suite, test_id, name, hardware, unit, run_id, value).
def _metric_query(run_ids: list[str]) -> Any:
    return (
        select(
            literal("metric"), metrics.c.suite, metrics.c.test_id, metrics.c.name,
            metrics.c.hardware, func.max(metrics.c.unit), metrics.c.run_id,
            func.avg(metrics.c.value),
        )
        .where(metrics.c.run_id.in_(run_ids))
        .group_by(metrics.c.suite, metrics.c.test_id, metrics.c.name, metrics.c.hardware,
                  metrics.c.run_id)
    )  # fmt: skip


def _duration_query(run_ids: list[str]) -> Any:
    # Only passing attempts: a failure's duration says where it stopped, not how fast it is.
    return (
        select(
            literal("duration"), results.c.suite, results.c.test_id, literal("duration"),
            results.c.hardware, literal("s"), results.c.run_id,
            func.avg(results.c.duration).label("value"),
        )
        .where(results.c.run_id.in_(run_ids), results.c.outcome == "passed")
        .group_by(results.c.suite, results.c.test_id, results.c.hardware, results.c.run_id)
    )  # fmt: skip


def _moving(per_run: Select[Any]) -> Select[Any]:
    """The rows of `per_run` (one value per series and run) whose series is long enough and
    spans DURATION_MIN_SECONDS or more, screened in the database: most tests' durations are
    flat, and fetching them costs more than the rest of a report."""
    values = per_run.subquery()
    key = (values.c.suite, values.c.test_id, values.c.hardware)
    moving = (
        select(*key)
        .group_by(*key)
        .having(func.count() >= MIN_POINTS,
                func.max(values.c.value) - func.min(values.c.value) >= DURATION_MIN_SECONDS)
    ).subquery()  # fmt: skip
    joined = and_(*(a == b for a, b in zip(key, (moving.c.suite, moving.c.test_id,
                                                  moving.c.hardware), strict=True)))  # fmt: skip
    return select(*values.c).join(moving, joined)


def _assemble(rows: list[Any], position: dict[str, int]) -> list[Series]:
    grouped: dict[tuple[str, ...], list[tuple[int, str, float]]] = {}
    for kind, suite, test_id, name, hardware, unit, run_id, value in rows:
        key = (kind, suite, test_id, name, hardware, unit or "")
        grouped.setdefault(key, []).append((position[run_id], run_id, float(value)))
    out = []
    for (kind, suite, test_id, name, hardware, unit), points in sorted(grouped.items()):
        if len(points) < MIN_POINTS:
            continue
        points.sort()
        run_ids = tuple(p[1] for p in points)
        values = tuple(p[2] for p in points)
        out.append(Series(kind, suite, test_id, name, hardware, unit, run_ids, values))
    return out


def _change(
    series: Series, index: int, before: float, after: float, relative: float, confidence: float
) -> PerformanceChange:
    up = after > before
    return PerformanceChange(
        kind=series.kind, suite=series.suite, test_id=series.test_id, name=series.name,
        hardware=series.hardware,
        unit=series.unit, run_id=series.run_ids[index], index=index, points=len(series.values),
        before=before, after=after, relative=relative, confidence=confidence,
        direction="up" if up else "down", regression=up if series.kind == "duration" else None,
    )  # fmt: skip
