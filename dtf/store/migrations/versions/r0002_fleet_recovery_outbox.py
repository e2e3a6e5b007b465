"""Revision 0002: suite in result keys; run ref and matrix; fleet, recovery and outbox tables."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Nullable ADD COLUMN on a table without secondary indexes: the one ALTER form DuckDB and
    # PostgreSQL both accept without rewriting; the index on runs comes after it.
    op.add_column("runs", sa.Column("ref", sa.String(256)))
    op.add_column("runs", sa.Column("matrix", sa.Text))
    op.create_index("ix_runs_campaign_started", "runs", ["campaign", "started_at"])
    _rekey_results_and_metrics()
    _create_workers()
    _create_recovery_events()
    _create_circuit_states()
    _create_quarantine()
    _create_outbox()


def downgrade() -> None:
    op.drop_index("ix_outbox_status", "outbox")
    op.drop_table("outbox")
    op.drop_table("quarantine")
    op.drop_table("circuit_states")
    op.drop_index("ix_recovery_class_hardware", "recovery_events")
    op.drop_index("ix_recovery_run", "recovery_events")
    op.drop_table("recovery_events")
    op.drop_table("workers")
    _unkey_results_and_metrics()
    op.drop_index("ix_runs_campaign_started", "runs")
    op.drop_column("runs", "matrix")
    op.drop_column("runs", "ref")


_RESULT_COLUMNS = ("run_id, test_id, attempt, suite, shard_id, outcome, duration, worker, "
                   "hardware, simulated, message, output, started_at, finished_at")  # fmt: skip
_METRIC_COLUMNS = "run_id, test_id, attempt, name, value, unit, hardware"


def _rekey_results_and_metrics() -> None:
    """Add suite to the keys of results and metrics (two suites may run the same test).

    DuckDB cannot change a primary key in place, so each table is copied aside, created again
    and refilled: only CREATE/DROP and INSERT ... SELECT, which both backends run the same.
    """
    op.execute(f"CREATE TABLE results_0001 AS SELECT {_RESULT_COLUMNS} FROM results")
    op.execute(f"CREATE TABLE metrics_0001 AS SELECT {_METRIC_COLUMNS} FROM metrics")
    _drop_results_and_metrics()
    _create_results(["run_id", "suite", "test_id", "attempt"])
    _create_metrics(with_suite=True)
    op.execute(
        f"INSERT INTO results ({_RESULT_COLUMNS}) SELECT {_RESULT_COLUMNS} FROM results_0001"
    )
    # Before 0002 a test had one row per (run, test, attempt): its result names its suite.
    op.execute(
        f"INSERT INTO metrics ({_METRIC_COLUMNS}, suite) "
        "SELECT m.run_id, m.test_id, m.attempt, m.name, m.value, m.unit, m.hardware, "
        "COALESCE(r.suite, '') FROM metrics_0001 m LEFT JOIN results_0001 r "
        "ON r.run_id = m.run_id AND r.test_id = m.test_id AND r.attempt = m.attempt"
    )
    op.drop_table("metrics_0001")
    op.drop_table("results_0001")


def _unkey_results_and_metrics() -> None:
    """Back to 0001's keys; where two suites ran a test, the first suite's row is kept."""
    op.execute(f"CREATE TABLE results_0002 AS SELECT {_RESULT_COLUMNS} FROM results")
    op.execute(f"CREATE TABLE metrics_0002 AS SELECT {_METRIC_COLUMNS}, suite FROM metrics")
    _drop_results_and_metrics()
    _create_results(["run_id", "test_id", "attempt"])
    _create_metrics(with_suite=False)
    op.execute(
        f"INSERT INTO results ({_RESULT_COLUMNS}) SELECT {_RESULT_COLUMNS} FROM (SELECT *, "
        "row_number() OVER (PARTITION BY run_id, test_id, attempt ORDER BY suite) AS k "
        "FROM results_0002) AS ranked WHERE k = 1"
    )
    op.execute(
        f"INSERT INTO metrics ({_METRIC_COLUMNS}) SELECT {_METRIC_COLUMNS} FROM (SELECT *, "
        "row_number() OVER (PARTITION BY run_id, test_id, attempt, name ORDER BY suite) AS k "
        "FROM metrics_0002) AS ranked WHERE k = 1"
    )
    op.drop_table("metrics_0002")
    op.drop_table("results_0002")


def _drop_results_and_metrics() -> None:
    op.drop_index("ix_metrics_name", "metrics")
    op.drop_table("metrics")
    op.drop_index("ix_results_run_outcome", "results")
    op.drop_index("ix_results_test_hardware", "results")
    op.drop_table("results")


def _create_results(key: list[str]) -> None:
    op.create_table(
        "results",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("test_id", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("suite", sa.String(128), nullable=False),
        sa.Column("shard_id", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("duration", sa.Double, nullable=False),
        sa.Column("worker", sa.String(256), nullable=False),
        sa.Column("hardware", sa.String(128), nullable=False),
        sa.Column("simulated", sa.Boolean, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("output", sa.Text, nullable=False),
        sa.Column("started_at", sa.Double),
        sa.Column("finished_at", sa.Double),
        sa.PrimaryKeyConstraint(*key),
    )
    op.create_index("ix_results_test_hardware", "results", ["test_id", "hardware"])
    op.create_index("ix_results_run_outcome", "results", ["run_id", "outcome"])


def _create_metrics(*, with_suite: bool) -> None:
    key = (
        ["run_id", "suite", "test_id", "attempt", "name"]
        if with_suite
        else ["run_id", "test_id", "attempt", "name"]
    )
    suite = [sa.Column("suite", sa.String(128), nullable=False)] if with_suite else []
    op.create_table(
        "metrics",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("test_id", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("value", sa.Double, nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("hardware", sa.String(128), nullable=False),
        *suite,
        sa.PrimaryKeyConstraint(*key),
    )
    op.create_index("ix_metrics_name", "metrics", ["name", "hardware"])


def _create_workers() -> None:
    op.create_table(
        "workers",
        sa.Column("worker", sa.String(256), primary_key=True),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("hardware_class", sa.String(128), nullable=False),
        sa.Column("hardware", sa.Text, nullable=False),
        sa.Column("resources", sa.Text, nullable=False),
        sa.Column("simulated", sa.Boolean, nullable=False),
        sa.Column("first_seen", sa.Double, nullable=False),
        sa.Column("last_seen", sa.Double, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
    )


def _create_recovery_events() -> None:
    op.create_table(
        "recovery_events",
        sa.Column("event_id", sa.String(256), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("shard_id", sa.String(128), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(256), nullable=False),
        sa.Column("hardware", sa.String(128), nullable=False),
        sa.Column("error_class", sa.String(32), nullable=False),
        sa.Column("rung", sa.Integer, nullable=False),
        sa.Column("strategy", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.Double, nullable=False),
    )
    op.create_index("ix_recovery_run", "recovery_events", ["run_id"])
    op.create_index("ix_recovery_class_hardware", "recovery_events", ["error_class", "hardware"])


def _create_circuit_states() -> None:
    op.create_table(
        "circuit_states",
        sa.Column("scope", sa.String(16), primary_key=True),
        sa.Column("subject", sa.String(256), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("opened_at", sa.Double),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )


def _create_quarantine() -> None:
    op.create_table(
        "quarantine",
        sa.Column("campaign", sa.String(128), primary_key=True),
        sa.Column("test_id", sa.Text, primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("owner_issue", sa.Text, nullable=False),
        sa.Column("added_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double),
        sa.Column("released_at", sa.Double),
    )


def _create_outbox() -> None:
    op.create_table(
        "outbox",
        sa.Column("delivery_id", sa.String(256), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("publisher", sa.String(64), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("sent_at", sa.Double),
        sa.Column("remote_ref", sa.Text, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
    )
    op.create_index("ix_outbox_status", "outbox", ["status", "created_at"])
