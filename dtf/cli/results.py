"""`dtf runs`: read campaign results from the store."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.table import Table

from dtf.cli.app import app, console
from dtf.config import database_url
from dtf.store.results import ResultStore


@app.command()
def runs(
    limit: Annotated[int, typer.Option(min=1, help="How many runs to list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List recent campaign runs from the results store."""
    store = ResultStore(database_url())
    try:
        rows = store.recent_runs(limit)
    finally:
        store.close()
    if as_json:
        print(json.dumps(rows, default=str, indent=1))
        return
    table = Table(title=f"Recent runs ({store.location})")
    for column in ("run", "campaign", "started", "verdict", "tests", "failing"):
        table.add_column(column, no_wrap=column in ("run", "started"))
    for row in rows:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["started_at"]))
        table.add_row(row["run_id"], row["campaign"], started, row["verdict"] or row["status"],
                      str(row["tests"] or 0), str(row["failing"] or 0))  # fmt: skip
    console.print(table)
