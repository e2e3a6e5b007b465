"""ResultStore: the flow's single writer and every reader of campaign results."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    create_engine,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from dtf.errors import StoreError
from dtf.execution.outcomes import FAILING_OUTCOMES, ShardOutcome
from dtf.store.schema import metadata, metrics, results, runs, shards

# duckdb_engine is imported eagerly: when SQLAlchemy first loads it lazily inside a Prefect
# flow run, DuckDB's bindings report dozens of "nanobind: leaked" lines at interpreter exit.

HISTORY_WINDOW = 10


@dataclass(frozen=True)
class ShardRecord:
    """Which shard ran, where, and what it planned; stored with its outcome."""

    run_id: str
    shard_id: str
    suite: str
    attempt: int
    needs: Mapping[str, float]
    tests: int
    estimated_seconds: float


class ResultStore:
    """SQL access to campaign results on DuckDB (default) or PostgreSQL."""

    def __init__(self, url: str):
        self.url = url
        try:
            self.engine: Engine = _engine(url)
            metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot open results store {_redact(url)}: {_first_line(exc)}"
            ) from exc

    @property
    def location(self) -> str:
        return _redact(self.url)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"results store {self.location}: {_first_line(exc)}") from exc

    # --- writes (the flow process only) -------------------------------------------------

    def start_run(
        self,
        run_id: str,
        campaign: str,
        *,
        source: str,
        parameters: Mapping[str, Any],
        trigger: str = "cli",
        planned_tests: int = 0,
    ) -> None:
        row = {
            "run_id": run_id, "campaign": campaign, "source": source, "trigger": trigger,
            "parameters": json.dumps(dict(parameters), sort_keys=True),
            "started_at": time.time(), "status": "running", "planned_tests": planned_tests,
        }  # fmt: skip
        with self._tx() as conn:
            if conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first():
                conn.execute(update(runs).where(runs.c.run_id == run_id).values(status="running"))
            else:
                conn.execute(insert(runs).values(**row))

    def update_run(self, run_id: str, **values: Any) -> None:
        with self._tx() as conn:
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(**values))

    def write_shard(self, record: ShardRecord, outcome: ShardOutcome, status: str = "done") -> None:
        """Store a shard attempt and its results; writing the same attempt twice is a no-op."""
        now = time.time()
        shard_row = {
            "run_id": record.run_id, "shard_id": record.shard_id, "attempt": record.attempt,
            "suite": record.suite, "needs": json.dumps(dict(record.needs), sort_keys=True),
            "tests": record.tests, "estimated_seconds": record.estimated_seconds,
            "status": status, "worker": outcome.worker, "hardware": outcome.hardware,
            "launches": outcome.launches, "started_at": now - outcome.wall_seconds,
            "finished_at": now, "wall_seconds": outcome.wall_seconds,
        }  # fmt: skip
        rows = [
            {
                "run_id": record.run_id, "test_id": r.nodeid, "attempt": record.attempt,
                "suite": record.suite, "shard_id": record.shard_id, "outcome": r.outcome,
                "duration": r.duration, "worker": outcome.worker, "hardware": outcome.hardware,
                "simulated": outcome.simulated, "message": r.message, "output": r.output,
                "started_at": r.started_at, "finished_at": r.finished_at,
            }
            for r in outcome.results
        ]  # fmt: skip
        metric_rows = [
            {"run_id": record.run_id, "test_id": r.nodeid, "attempt": record.attempt,
             "name": m.name, "value": m.value, "unit": m.unit, "hardware": outcome.hardware}
            for r in outcome.results
            for m in r.metrics
        ]  # fmt: skip
        ids = [r.nodeid for r in outcome.results]
        with self._tx() as conn:
            _delete_shard_attempt(conn, record, ids)
            conn.execute(insert(shards).values(**shard_row))
            for chunk in _chunks(rows, 500):
                conn.execute(insert(results), chunk)
            for chunk in _chunks(metric_rows, 500):
                conn.execute(insert(metrics), chunk)

    # --- reads ---------------------------------------------------------------------------

    def duration_history(self, test_ids: Sequence[str], hardware: str) -> dict[str, float]:
        """Median duration of each test's recent passing runs on `hardware`."""
        if not test_ids:
            return {}
        query = (
            select(results.c.test_id, results.c.duration)
            .where(results.c.outcome == "passed", results.c.hardware == hardware)
            .order_by(results.c.test_id, results.c.finished_at.desc())
        )
        wanted = set(test_ids)
        samples: dict[str, list[float]] = {}
        with self._tx() as conn:
            for test_id, duration in conn.execute(query):
                if test_id in wanted and len(samples.setdefault(test_id, [])) < HISTORY_WINDOW:
                    samples[test_id].append(duration)
        return {k: statistics.median(v) for k, v in samples.items() if v}

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self._tx() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().first()
        return dict(row) if row else None

    def recent_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        counts = (
            select(
                results.c.run_id,
                func.count().label("tests"),
                func.sum(results.c.outcome.in_(FAILING_OUTCOMES).cast(Integer)).label("failing"),
            )
            .group_by(results.c.run_id)
            .subquery()
        )
        query = (
            select(runs, counts.c.tests, counts.c.failing)
            .outerjoin(counts, counts.c.run_id == runs.c.run_id)
            .order_by(runs.c.started_at.desc())
            .limit(limit)
        )
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def outcome_counts(self, run_id: str) -> list[dict[str, Any]]:
        """Rows of (suite, hardware, outcome, count) for the latest attempt of each test."""
        latest = _latest_results(run_id)
        query = (
            select(latest.c.suite, latest.c.hardware, latest.c.outcome, func.count().label("n"))
            .group_by(latest.c.suite, latest.c.hardware, latest.c.outcome)
            .order_by(latest.c.suite, latest.c.hardware, latest.c.outcome)
        )
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def failures(self, run_id: str) -> list[dict[str, Any]]:
        latest = _latest_results(run_id)
        query = (
            select(latest)
            .where(latest.c.outcome.in_(sorted(FAILING_OUTCOMES)))
            .order_by(latest.c.suite, latest.c.test_id)
        )
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def tested_ids(self, run_id: str) -> set[str]:
        query = select(results.c.test_id).where(results.c.run_id == run_id).distinct()
        with self._tx() as conn:
            return {row[0] for row in conn.execute(query)}

    def results_of(self, run_id: str) -> list[dict[str, Any]]:
        query = select(results).where(results.c.run_id == run_id).order_by(results.c.test_id)
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def metrics_of(self, run_id: str) -> list[dict[str, Any]]:
        query = select(metrics).where(metrics.c.run_id == run_id).order_by(metrics.c.name)
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def shards_of(self, run_id: str) -> list[dict[str, Any]]:
        query = select(shards).where(shards.c.run_id == run_id).order_by(shards.c.shard_id)
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]


def _latest_results(run_id: str) -> Any:
    """The results of a run keeping only each test's highest attempt."""
    ranked = select(
        results,
        func.row_number()
        .over(partition_by=results.c.test_id, order_by=results.c.attempt.desc())
        .label("rank"),
    ).where(results.c.run_id == run_id)
    sub = ranked.subquery()
    return select(*[c for c in sub.c if c.name != "rank"]).where(sub.c.rank == 1).subquery()


def _delete_shard_attempt(conn: Connection, record: ShardRecord, test_ids: list[str]) -> None:
    conn.execute(
        delete(shards).where(
            shards.c.run_id == record.run_id,
            shards.c.shard_id == record.shard_id,
            shards.c.attempt == record.attempt,
        )
    )
    for table in (results, metrics):
        for chunk in _chunks(test_ids, 500):
            conn.execute(
                delete(table).where(
                    table.c.run_id == record.run_id,
                    table.c.attempt == record.attempt,
                    table.c.test_id.in_(chunk),
                )
            )


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _engine(url: str) -> Engine:
    if url.startswith("duckdb:///"):
        Path(url.removeprefix("duckdb:///")).parent.mkdir(parents=True, exist_ok=True)
        # No pool: DuckDB admits one process per file, so the file is held only per operation.
        return create_engine(url, poolclass=NullPool)
    return create_engine(url, pool_pre_ping=True)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
