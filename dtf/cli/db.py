"""`dtf db upgrade` and `dtf db current`: the results store's schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from dtf.cli.app import app, console
from dtf.config import database_url
from dtf.store import migrate
from dtf.store.results import ResultStore

db_app = typer.Typer(help="The results store's schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

Url = Annotated[
    str | None, typer.Option(help="Store URL (default: $DTF_DATABASE_URL or .dtf/dtf.duckdb).")
]


@db_app.command("upgrade")
def upgrade(url: Url = None) -> None:
    """Migrate the results store to the newest schema (a no-op when it is there)."""
    store = ResultStore(url or database_url(), upgrade=False)
    try:
        before = store.revision()
        with store.transaction() as conn:
            after = migrate.upgrade(conn)
    finally:
        store.close()
    if before == after:
        console.print(f"{store.location} is at revision {after} (newest)")
    else:
        console.print(f"{store.location} upgraded from {before or 'empty'} to {after}")


@db_app.command("current")
def current(url: Url = None) -> None:
    """Print the store's schema revision and the newest one; exit 1 if it is behind."""
    store = ResultStore(url or database_url(), upgrade=False)
    try:
        revision = store.revision()
    finally:
        store.close()
    head = migrate.head_revision()
    console.print(f"{store.location}: revision {revision or 'none'} (newest {head})")
    if revision != head:
        raise typer.Exit(1)
