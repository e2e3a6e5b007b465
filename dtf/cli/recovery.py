"""`dtf recovery stats` and `dtf recovery circuits`: what the ladder learned and decided."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from dtf.cli.app import app, console
from dtf.config import database_url
from dtf.recovery.circuit import POLICIES, CircuitPolicy, CircuitState
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
    """Circuit breakers per worker and per hardware class: state, recent failures and why."""
    store = ResultStore(database_url())
    try:
        rows = circuit_rows(store, time.time())
    finally:
        store.close()
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    console.print(circuits_table(rows, "Circuit breakers"))


def circuit_rows(
    store: ResultStore, now: float, tripped_only: bool = False
) -> list[dict[str, Any]]:
    """Stored breakers as of `now` (an open one past its cool-down reads half-open);
    `tripped_only` leaves the closed ones out. `until`: when an open one turns half-open."""
    rows: list[dict[str, Any]] = []
    for stored in recovery_store.all_circuits(store):
        policy = POLICIES.get(stored.scope, CircuitPolicy())
        circuit = stored.current(now, policy)
        if tripped_only and circuit.state is CircuitState.CLOSED:
            continue
        rows.append({"scope": circuit.scope, "subject": circuit.subject,
                     "state": circuit.state.value, "failures": len(circuit.failures),
                     "opened_at": circuit.opened_at, "until": circuit.open_until(policy),
                     "reason": circuit.reason})  # fmt: skip
    return rows


def circuits_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for column in ("scope", "subject", "state", "failures", "opened", "until", "reason"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["scope"], r["subject"], r["state"], str(r["failures"]),
                      _clock(r["opened_at"]), _clock(r["until"]), r["reason"][:80])  # fmt: skip
    return table


def _clock(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"
