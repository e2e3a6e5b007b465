"""Revision 0004: the environment (Python, platform, packages) each worker ran a run's shards in."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # A new table only: CREATE TABLE runs the same on DuckDB and PostgreSQL.
    op.create_table(
        "run_environments",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("worker", sa.String(256), primary_key=True),
        sa.Column("lock_hash", sa.String(64), primary_key=True),
        sa.Column("sha", sa.String(40)),
        sa.Column("python", sa.String(32), nullable=False),
        sa.Column("platform", sa.String(128), nullable=False),
        sa.Column("packages", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_environments")
