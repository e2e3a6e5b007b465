"""Revision 0003: a quarantine may be scoped to one hardware class."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Nullable ADD COLUMN on a table without secondary indexes, which DuckDB accepts.
    op.add_column("quarantine", sa.Column("hardware", sa.String(128)))


def downgrade() -> None:
    op.drop_column("quarantine", "hardware")
