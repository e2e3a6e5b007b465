"""Alembic environment: migrates the connection that dtf.store.migrate hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from dtf.store.schema import metadata

# Any constant works: concurrent `upgrade` calls on one PostgreSQL database take turns on it.
_PG_LOCK_KEY = 0x64746601


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run dtf's migrations through dtf.store.migrate, not alembic's CLI")
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        context.run_migrations()


run_migrations()
