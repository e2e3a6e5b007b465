"""`dtf recovery stats` and `dtf circuits`: what the recovery ladder has learned and decided."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from dtf.cli.app import app, console
from dtf.config import database_url
from dtf.store import recovery as recovery_store
from dtf.store.results import ResultStore

recovery_app = typer.Typer(help="The recovery ladder's history.", no_args_is_help=True)
app.add_typer(recovery_app, name="recovery")

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@recovery_app.command("stats")
def stats(as_json: AsJson = False) -> None:
    """Success of each strategy by error kind and hardware: the table the ladder adapts to."""
    store = ResultStore(database_url())
    try:
        rows = recovery_store.recovery_stats(store)
    finally:
        store.close()
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    table = Table(title="Recovery strategies")
    for column in ("error kind", "hardware", "strategy", "attempts", "recovered", "rate"):
        table.add_column(column, justify="right" if column in ("attempts", "recovered", "rate")
                         else "left")  # fmt: skip
    for r in rows:
        rate = f"{(r['ok'] or 0) / r['attempts']:.0%}" if r["attempts"] else "-"
        table.add_row(r["error_class"], r["hardware"], r["strategy"], str(r["attempts"]),
                      str(r["ok"] or 0), rate)  # fmt: skip
    console.print(table)


@recovery_app.command("circuits")
def circuits(as_json: AsJson = False) -> None:
    """Circuit breakers per worker: state, recent failures and why."""
    store = ResultStore(database_url())
    try:
        found = recovery_store.load_circuits(store)
    finally:
        store.close()
    rows: list[dict[str, Any]] = [
        {"worker": c.subject, "state": c.state.value, "failures": len(c.failures),
         "opened_at": c.opened_at, "reason": c.reason}
        for c in sorted(found.values(), key=lambda c: c.subject)
    ]  # fmt: skip
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    table = Table(title="Circuit breakers")
    for column in ("worker", "state", "failures", "opened", "reason"):
        table.add_column(column)
    for r in rows:
        opened = (
            time.strftime("%H:%M:%S", time.localtime(r["opened_at"])) if r["opened_at"] else "-"
        )
        table.add_row(r["worker"], r["state"], str(r["failures"]), opened, r["reason"][:80])
    console.print(table)
