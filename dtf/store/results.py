"""ResultStore: the flow's single writer and every reader of campaign results."""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Integer, Table, delete, func, insert, select, update

from dtf.execution.outcomes import ShardOutcome
from dtf.store import migrate
from dtf.store.bulk import Columns, insert_columns, rows_to_columns
from dtf.store.engine import (
    connect_with_retry,
    lock_timeout_from_env,
    make_engine,
    redact,
    transaction,
    transaction_on,
)
from dtf.store.environments import record_environment
from dtf.store.queries import FAILING, latest_results
from dtf.store.schema import metadata, metrics, results, runs, shards

HISTORY_WINDOW = 10
_IN_CHUNK = 500


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
    # When the shard finished; None means now, which is right for the flow that writes each
    # shard as it completes. Imports and generated histories give the real time.
    finished_at: float | None = None


class ResultStore:
    """SQL access to campaign results on DuckDB (default) or PostgreSQL.

    Opening a store upgrades its schema to the newest migration. Every operation is one short
    transaction on a fresh DuckDB connection, so a DuckDB file is held only while an operation
    runs; an operation that meets another process's lock retries for `lock_timeout` seconds
    (default $DTF_STORE_LOCK_TIMEOUT or 15) and then raises StoreError.
    """

    def __init__(self, url: str, *, lock_timeout: float | None = None, upgrade: bool = True):
        self.url = url
        self.lock_timeout = lock_timeout_from_env() if lock_timeout is None else lock_timeout
        self.engine: Engine = make_engine(url)
        self._session = threading.local()  # the connection of a session() in this thread
        if upgrade:
            self.upgrade()

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (nothing to do when it is there)."""
        with self.transaction() as conn:
            migrate.upgrade(conn)

    @property
    def location(self) -> str:
        return redact(self.url)

    @property
    def dialect(self) -> str:
        """'duckdb' or 'postgresql'."""
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One short transaction (the way analysis runs its own SQL); StoreError on failure.

        Inside `session()` it runs on the session's connection (joining a transaction already
        open there), else on a connection of its own.
        """
        shared: Connection | None = getattr(self._session, "conn", None)
        if shared is None:
            with transaction(self.engine, self.lock_timeout, self.location) as conn:
                yield conn
        elif shared.in_transaction():
            yield shared
        else:
            with transaction_on(shared, self.location) as conn:
                yield conn

    @contextmanager
    def session(self) -> Iterator[None]:
        """Run this thread's operations in the block on one connection.

        Each operation is still its own transaction, but a DuckDB file is opened once for the
        block instead of once per operation (tens of milliseconds each). Another process
        waits for the whole block, so keep blocks to a burst of reads and writes.
        """
        if getattr(self._session, "conn", None) is not None:
            yield
            return
        conn = connect_with_retry(self.engine, self.lock_timeout, self.location)
        self._session.conn = conn
        try:
            yield
        finally:
            self._session.conn = None
            conn.close()

    def revision(self) -> str | None:
        """The schema revision the store is at."""
        with self.transaction() as conn:
            return migrate.current_revision(conn)

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
        ref: str | None = None,
        matrix: Mapping[str, Any] | None = None,
        started_at: float | None = None,
    ) -> None:
        row = {
            "run_id": run_id, "campaign": campaign, "source": source, "trigger": trigger,
            "parameters": json.dumps(dict(parameters), sort_keys=True),
            "started_at": time.time() if started_at is None else started_at,
            "status": "running", "planned_tests": planned_tests, "ref": ref,
            "matrix": json.dumps(dict(matrix), sort_keys=True) if matrix else None,
        }  # fmt: skip
        with self.transaction() as conn:
            if conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first():
                conn.execute(update(runs).where(runs.c.run_id == run_id).values(status="running"))
            else:
                conn.execute(insert(runs).values(**row))

    def update_run(self, run_id: str, **values: Any) -> None:
        with self.transaction() as conn:
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(**values))

    def write_shard(self, record: ShardRecord, outcome: ShardOutcome, status: str = "done") -> None:
        """Store a shard attempt and its results; writing the same attempt again replaces it.

        The environment the shard ran in is stored once per run, worker and lock hash.
        """
        now = time.time() if record.finished_at is None else record.finished_at
        with self.transaction() as conn:
            _delete_shard_attempt(conn, record)
            conn.execute(insert(shards).values(**_shard_row(record, outcome, status, now)))
            rows = rows_to_columns(results, _result_rows(record, outcome))
            insert_columns(conn, results, rows, replace=True)
            metric_rows = rows_to_columns(metrics, _metric_rows(record, outcome))
            insert_columns(conn, metrics, metric_rows, replace=True)
            if outcome.environment:
                record_environment(conn, record.run_id, outcome.worker, outcome.environment, now)

    def bulk_insert(self, table: str | Table, columns: Columns) -> int:
        """Append many rows given column-wise, in one transaction; the fast path for imports.

        Unlike write_shard this does not replace earlier rows: a duplicate key fails the whole
        batch. DuckDB scans the batch as arrays; PostgreSQL (psycopg) receives it through COPY.
        """
        target = metadata.tables[table] if isinstance(table, str) else table
        with self.transaction() as conn:
            return insert_columns(conn, target, columns)

    # --- reads ---------------------------------------------------------------------------

    def duration_history(
        self, test_ids: Sequence[str], hardware: str, campaign: str
    ) -> dict[str, float]:
        """Median duration of each test's recent passing runs on `hardware` in `campaign`'s
        runs: test ids are paths in a project, so another campaign's `tests/test_api.py::test_get`
        is most likely another test."""
        samples: dict[str, list[float]] = {}
        with self.transaction() as conn:
            for chunk in _chunks(sorted(set(test_ids)), _IN_CHUNK):
                query = _recent_durations(chunk, hardware, campaign)
                for test_id, duration in conn.execute(query):
                    samples.setdefault(test_id, []).append(duration)
        return {k: statistics.median(v) for k, v in samples.items() if v}

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self.transaction() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().first()
        return dict(row) if row else None

    def recent_runs(self, limit: int = 20, campaign: str | None = None) -> list[dict[str, Any]]:
        query = select(runs).order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit)
        if campaign:
            query = query.where(runs.c.campaign == campaign)
        recent = query.subquery()
        latest = latest_results(select(recent.c.run_id))
        counts = (
            select(
                latest.c.run_id,
                func.count().label("tests"),
                func.sum(latest.c.outcome.in_(FAILING).cast(Integer)).label("failing"),
            )
            .group_by(latest.c.run_id)
            .subquery()
        )
        joined = (
            select(recent, counts.c.tests, counts.c.failing)
            .outerjoin(counts, counts.c.run_id == recent.c.run_id)
            .order_by(recent.c.started_at.desc(), recent.c.run_id.desc())
        )
        with self.transaction() as conn:
            return [dict(r) for r in conn.execute(joined).mappings()]

    def outcome_counts(self, run_id: str) -> list[dict[str, Any]]:
        """Rows of (suite, hardware, outcome, count) for the latest attempt of each test."""
        latest = latest_results([run_id])
        query = (
            select(latest.c.suite, latest.c.hardware, latest.c.outcome, func.count().label("n"))
            .group_by(latest.c.suite, latest.c.hardware, latest.c.outcome)
            .order_by(latest.c.suite, latest.c.hardware, latest.c.outcome)
        )
        with self.transaction() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def failures(self, run_id: str) -> list[dict[str, Any]]:
        latest = latest_results([run_id])
        query = (
            select(*[c for c in latest.c if c.name not in ("failed_attempts", "attempts")])
            .where(latest.c.outcome.in_(FAILING))
            .order_by(latest.c.suite, latest.c.test_id)
        )
        with self.transaction() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def tested_ids(self, run_id: str) -> set[str]:
        query = select(results.c.test_id).where(results.c.run_id == run_id).distinct()
        with self.transaction() as conn:
            return {row[0] for row in conn.execute(query)}

    def results_of(self, run_id: str) -> list[dict[str, Any]]:
        """Every result row of the run, each with `degraded`: True when its shard attempt ran
        on the suite's fallback hardware (the attempt's status is kept once, on the shard)."""
        attempt = (
            (results.c.run_id == shards.c.run_id)
            & (results.c.shard_id == shards.c.shard_id)
            & (results.c.attempt == shards.c.attempt)
        )
        query = (
            select(results, func.coalesce(shards.c.status == "degraded", False).label("degraded"))
            .select_from(results.outerjoin(shards, attempt))
            .where(results.c.run_id == run_id)
            .order_by(results.c.test_id, results.c.attempt)
        )
        with self.transaction() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def degraded_suites(self, run_id: str) -> dict[str, int]:
        """Results that ran on fallback hardware, counted by suite."""
        query = (
            select(shards.c.suite, func.sum(shards.c.tests).label("n"))
            .where(shards.c.run_id == run_id, shards.c.status == "degraded")
            .group_by(shards.c.suite)
            .order_by(shards.c.suite)
        )
        with self.transaction() as conn:
            return {str(r.suite): int(r.n) for r in conn.execute(query)}

    def metrics_of(self, run_id: str) -> list[dict[str, Any]]:
        query = (
            select(metrics)
            .where(metrics.c.run_id == run_id)
            .order_by(metrics.c.name, metrics.c.test_id, metrics.c.attempt)
        )
        with self.transaction() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def shards_of(self, run_id: str) -> list[dict[str, Any]]:
        query = (
            select(shards)
            .where(shards.c.run_id == run_id)
            .order_by(shards.c.shard_id, shards.c.attempt)
        )
        with self.transaction() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]


def _shard_row(
    record: ShardRecord, outcome: ShardOutcome, status: str, now: float
) -> dict[str, Any]:
    return {
        "run_id": record.run_id, "shard_id": record.shard_id, "attempt": record.attempt,
        "suite": record.suite, "needs": json.dumps(dict(record.needs), sort_keys=True),
        "tests": record.tests, "estimated_seconds": record.estimated_seconds,
        "status": status, "worker": outcome.worker, "hardware": outcome.hardware,
        "launches": outcome.launches, "started_at": now - outcome.wall_seconds,
        "finished_at": now, "wall_seconds": outcome.wall_seconds,
    }  # fmt: skip


def _result_rows(record: ShardRecord, outcome: ShardOutcome) -> list[dict[str, Any]]:
    return [
        {
            "run_id": record.run_id, "test_id": r.nodeid, "attempt": record.attempt,
            "suite": record.suite, "shard_id": record.shard_id, "outcome": r.outcome,
            "duration": r.duration, "worker": outcome.worker, "hardware": outcome.hardware,
            "simulated": outcome.simulated, "message": r.message, "output": r.output,
            "started_at": r.started_at, "finished_at": r.finished_at,
        }
        for r in outcome.results
    ]  # fmt: skip


def _metric_rows(record: ShardRecord, outcome: ShardOutcome) -> list[dict[str, Any]]:
    return [
        {"run_id": record.run_id, "test_id": r.nodeid, "attempt": record.attempt,
         "name": m.name, "value": m.value, "unit": m.unit, "hardware": outcome.hardware,
         "suite": record.suite}
        for r in outcome.results
        for m in r.metrics
    ]  # fmt: skip


def _recent_durations(test_ids: Sequence[str], hardware: str, campaign: str) -> Any:
    ranked = (
        select(
            results.c.test_id,
            results.c.duration,
            func.row_number()
            .over(partition_by=results.c.test_id, order_by=results.c.finished_at.desc())
            .label("rank"),
        )
        .join(runs, runs.c.run_id == results.c.run_id)
        .where(
            runs.c.campaign == campaign,
            results.c.outcome == "passed",
            results.c.hardware == hardware,
            results.c.test_id.in_(list(test_ids)),
        )
        .subquery()
    )
    return select(ranked.c.test_id, ranked.c.duration).where(ranked.c.rank <= HISTORY_WINDOW)


def _delete_shard_attempt(conn: Connection, record: ShardRecord) -> None:
    """Remove the rows an earlier write of this shard attempt left: a rewrite whose test list
    shrank leaves nothing behind. (A test another shard stored is replaced by the upsert.)"""
    run, attempt = record.run_id, record.attempt
    conn.execute(
        delete(shards).where(
            shards.c.run_id == run,
            shards.c.shard_id == record.shard_id,
            shards.c.attempt == attempt,
        )
    )
    in_shard = select(results.c.test_id).where(
        results.c.run_id == run,
        results.c.suite == record.suite,
        results.c.shard_id == record.shard_id,
        results.c.attempt == attempt,
    )
    conn.execute(
        delete(metrics).where(
            metrics.c.run_id == run,
            metrics.c.suite == record.suite,
            metrics.c.attempt == attempt,
            metrics.c.test_id.in_(in_shard),
        )
    )
    conn.execute(
        delete(results).where(
            results.c.run_id == run,
            results.c.suite == record.suite,
            results.c.shard_id == record.shard_id,
            results.c.attempt == attempt,
        )
    )


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
