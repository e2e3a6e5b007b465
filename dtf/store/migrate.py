"""Schema migrations: upgrade a store to the newest Alembic revision, on DuckDB or PostgreSQL."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The schema dtf created with metadata.create_all before it had migrations.
PRE_ALEMBIC_REVISION = "0001"


class AlembicDuckDBImpl(DefaultImpl):
    """Lets Alembic run on duckdb_engine: DuckDB speaks PostgreSQL-like DDL, transactionally."""

    __dialect__ = "duckdb"
    transactional_ddl = True


def alembic_config(connection: Connection | None = None) -> Config:
    """A programmatic Alembic config (no alembic.ini) bound to `connection`."""
    config = Config()
    # ConfigParser interpolates '%': escape it in case the install path holds one.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    """The newest revision shipped with this dtf."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no Alembic revisions under {MIGRATIONS}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision a database is at; None for an empty (or pre-migration) database."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection, revision: str = "head") -> str | None:
    """Upgrade to `revision` inside the caller's transaction; returns the revision reached.

    A database that dtf created before it had migrations (tables, no alembic_version) is
    stamped as revision 0001 first, so its rows are kept and only the new parts are added.
    """
    target = head_revision() if revision == "head" else revision
    current = current_revision(connection)
    if current == target:
        return current
    config = alembic_config(connection)
    if current is None and inspect(connection).has_table("runs"):
        command.stamp(config, PRE_ALEMBIC_REVISION)
    command.upgrade(config, revision)
    return current_revision(connection)


def downgrade(connection: Connection, revision: str) -> str | None:
    """Downgrade to `revision` ("base" for an empty database); for tests and rollbacks."""
    command.downgrade(alembic_config(connection), revision)
    return current_revision(connection)
