"""Revision 0001: the schema dtf shipped before migrations (runs, shards, results, metrics)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("campaign", sa.String(128), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("trigger", sa.String(64), nullable=False),
        sa.Column("parameters", sa.Text, nullable=False),
        sa.Column("flow_run_id", sa.String(64)),
        sa.Column("flow_run_url", sa.Text),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("verdict", sa.String(32)),
        sa.Column("planned_tests", sa.Integer, nullable=False),
    )
    op.create_table(
        "shards",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("shard_id", sa.String(128), primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("suite", sa.String(128), nullable=False),
        sa.Column("needs", sa.Text, nullable=False),
        sa.Column("tests", sa.Integer, nullable=False),
        sa.Column("estimated_seconds", sa.Double, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("worker", sa.String(256), nullable=False),
        sa.Column("hardware", sa.String(128), nullable=False),
        sa.Column("launches", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Double),
        sa.Column("finished_at", sa.Double),
        sa.Column("wall_seconds", sa.Double),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_table(
        "results",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("test_id", sa.Text, primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
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
    )
    op.create_index("ix_results_test_hardware", "results", ["test_id", "hardware"])
    op.create_index("ix_results_run_outcome", "results", ["run_id", "outcome"])
    op.create_table(
        "metrics",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("test_id", sa.Text, primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("value", sa.Double, nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("hardware", sa.String(128), nullable=False),
    )
    op.create_index("ix_metrics_name", "metrics", ["name", "hardware"])


def downgrade() -> None:
    op.drop_index("ix_metrics_name", "metrics")
    op.drop_table("metrics")
    op.drop_index("ix_results_run_outcome", "results")
    op.drop_index("ix_results_test_hardware", "results")
    op.drop_table("results")
    op.drop_table("shards")
    op.drop_table("runs")
