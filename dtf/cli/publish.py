"""`dtf publish` and `dtf validate`: the gate and the outbox from the command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dtf.cli.app import app, console
from dtf.cli.services import prefect_server
from dtf.config import database_url, dtf_home
from dtf.errors import DtfError
from dtf.publishing.config import read_publishers
from dtf.publishing.outbox import Outbox
from dtf.publishing.secrets import load_blocks
from dtf.publishing.service import PublishReport, blocks_needed, deliver_pending, record_run
from dtf.server import server_env
from dtf.store.results import ResultStore
from dtf.validation.gate import validate_run
from dtf.validation.sections import read_expectations
from dtf.validation.spec import Expectations

Campaign = Annotated[
    Path | None,
    typer.Option("--campaign", "-c", help="The campaign file (its publishers/expectations)."),
]


@app.command()
def publish(
    run_id: Annotated[
        str | None, typer.Argument(help="The run (default with --retry: all).")
    ] = None,
    retry: Annotated[
        bool, typer.Option("--retry", help="Deliver what is still pending in the outbox.")
    ] = False,
    campaign: Campaign = None,
    status: Annotated[
        bool, typer.Option("--status", help="List the outbox, send nothing.")
    ] = False,
) -> None:
    """Publish a run's results (or retry pending deliveries); exit 1 if any stays pending."""
    store = ResultStore(database_url())
    try:
        if status:
            _print_outbox(Outbox(store), run_id)
            return
        if retry:
            report = _deliver(store, run_id)
        elif run_id is None or campaign is None:
            raise DtfError("dtf publish RUN --campaign FILE (or dtf publish --retry [RUN])")
        else:
            recorded = record_run(store, run_id, read_publishers(campaign))
            report = _deliver(store, run_id)
            report.recorded = recorded
    finally:
        store.close()
    _print_report(report)
    if not report.complete:
        raise typer.Exit(1)


@app.command()
def validate(
    run_id: Annotated[str, typer.Argument(help="The run to check.")],
    campaign: Campaign = None,
) -> None:
    """Check a stored run against the campaign's expectations; exit 1 if any fails."""
    spec = read_expectations(campaign) if campaign else Expectations()
    store = ResultStore(database_url())
    try:
        outcome = validate_run(store, run_id, spec)
    finally:
        store.close()
    verdict = "[bold green]passed[/]" if outcome.passed else "[bold red]failed[/]"
    console.print(f"validation of {run_id}: {verdict} ({outcome.checked} expectations)")
    for line in outcome.reasons():
        console.print(f"  [red]x[/] {line}", highlight=False, soft_wrap=True)
    if outcome.report:
        console.print(f"report: {outcome.report}", soft_wrap=True)
    if not outcome.passed:
        raise typer.Exit(1)


def _deliver(store: ResultStore, run_id: str | None) -> PublishReport:
    """Deliver pending rows, with the Prefect Secret blocks they name loaded first."""
    names = blocks_needed(store, run_id)
    if names:
        # Blocks live on a Prefect server: the configured one, else the one dtf manages.
        home = dtf_home()
        os.environ.update({"PREFECT_API_URL": prefect_server(home).api_url, **server_env(home)})
    return deliver_pending(store, run_id, blocks=load_blocks(names))


def _print_report(report: PublishReport) -> None:
    if report.recorded:
        console.print(f"recorded {report.recorded} new deliveries")
    for key, ref in report.sent.items():
        console.print(f"[green]sent[/] {key} -> {ref}", highlight=False, soft_wrap=True)
    for key, why in report.pending.items():
        console.print(f"[yellow]pending[/] {key}: {why}", highlight=False, soft_wrap=True)
    if not report.sent and not report.pending:
        console.print("nothing to deliver")


def _print_outbox(box: Outbox, run_id: str | None) -> None:
    table = Table(title="Outbox")
    for column in ("delivery", "status", "attempts", "ref / last error"):
        table.add_column(column)
    for row in box.rows(run_id):
        table.add_row(
            row.delivery_id, row.status, str(row.attempts), row.remote_ref or row.last_error
        )
    console.print(table)
