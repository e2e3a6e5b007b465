"""`dtf runs`, `show`, `history`, `flaky`, `regressions` and `report`: read results back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dtf.analysis.baseline import baseline_diff
from dtf.analysis.flaky import DEFAULT_WINDOW, flaky_tests
from dtf.analysis.history import history_of, resolve_test_id
from dtf.analysis.performance import regressions as find_regressions
from dtf.analysis.runs import get_run, latest_run_id
from dtf.analysis.summary import campaign_summary
from dtf.cli.app import app, console
from dtf.config import database_url
from dtf.errors import StoreError
from dtf.reporting import flaky_table, history_table, regressions_table, render_show
from dtf.reports.html import write_report
from dtf.store.environments import environments_of
from dtf.store.results import ResultStore

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
RunArg = Annotated[str, typer.Argument(help="A run id (or a unique part of one), or 'latest'.")]
Window = Annotated[int, typer.Option(min=2, help="How many recent runs to analyse.")]


@contextmanager
def _store() -> Iterator[ResultStore]:
    store = ResultStore(database_url())
    try:
        yield store
    finally:
        store.close()


def _run_id(store: ResultStore, run: str) -> str:
    if run == "latest":
        found = latest_run_id(store)
        if found is None:
            raise StoreError(f"the results store {store.location} holds no runs yet")
        return found
    return str(get_run(store, run)["run_id"])


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, default=str, indent=1))


@app.command()
def runs(
    limit: Annotated[int, typer.Option(min=1, help="How many runs to list.")] = 20,
    campaign: Annotated[str | None, typer.Option(help="Only runs of this campaign.")] = None,
    as_json: AsJson = False,
) -> None:
    """List recent campaign runs from the results store."""
    with _store() as store:
        rows = store.recent_runs(limit, campaign=campaign)
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"Recent runs ({store.location})")
    for column in ("run", "campaign", "started", "verdict", "tests", "failing"):
        table.add_column(column, no_wrap=column in ("run", "started"))
    for row in rows:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["started_at"]))
        table.add_row(row["run_id"], row["campaign"], started, row["verdict"] or row["status"],
                      str(row["tests"] or 0), str(row["failing"] or 0))  # fmt: skip
    console.print(table)


@app.command()
def show(
    run: RunArg,
    baseline: Annotated[
        str | None, typer.Option(help="Compare with this run instead of the previous one.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """A run's summary, its changes against the baseline, and its failures."""
    with _store() as store:
        run_id = _run_id(store, run)
        summary = campaign_summary(store, run_id)
        diff = baseline_diff(store, run_id, baseline)
        failures = store.failures(run_id)
        environments = environments_of(store, run_id)
    if as_json:
        _print_json({"summary": summary.as_dict(), "baseline": diff.as_dict(),
                     "failures": failures, "environments": environments})  # fmt: skip
        return
    render_show(summary, diff, failures, console)
    for line in environment_lines(environments):
        console.print(line, soft_wrap=True, highlight=False)


def environment_lines(environments: list[dict[str, Any]]) -> list[str]:
    """What each worker's environment held, one line each, its packages in full."""
    lines = [f"Environments ({len(environments)}):"] if environments else []
    for env in environments:
        commit = f"commit {str(env['sha'])[:12]}, " if env["sha"] else ""
        packages = env["packages"]
        lines.append(
            f"  {env['worker']}: {commit}lock {str(env['lock_hash'])[:12]}, Python "
            f"{env['python'] or '?'} on {env['platform'] or '?'}, {len(packages)} packages: "
            + " ".join(packages)
        )
    return lines


@app.command()
def history(
    test: Annotated[str, typer.Argument(help="A test id, or a unique part of one.")],
    limit: Annotated[int, typer.Option(min=1, help="How many runs to show.")] = 30,
    as_json: AsJson = False,
) -> None:
    """A test's outcomes and durations across recent runs."""
    with _store() as store:
        test_id = resolve_test_id(store, test)
        rows = history_of(store, test_id, limit)
    if as_json:
        _print_json({"test_id": test_id, "history": rows})
        return
    console.print(history_table(test_id, rows))


@app.command()
def flaky(
    campaign: Annotated[str | None, typer.Option(help="Only runs of this campaign.")] = None,
    run: Annotated[
        str | None, typer.Option(help="End the window at this run (its campaign and matrix).")
    ] = None,
    window: Window = DEFAULT_WINDOW,
    limit: Annotated[int, typer.Option(min=1, help="How many tests to list.")] = 20,
    as_json: AsJson = False,
) -> None:
    """Tests ranked by flakiness (flip rate, pass on rerun) over recent runs."""
    with _store() as store:
        run_id = _run_id(store, run) if run else None
        found = flaky_tests(store, run_id=run_id, campaign=campaign, window=window, limit=limit)
    if as_json:
        _print_json([t.as_dict() for t in found])
        return
    console.print(flaky_table(found, window))


@app.command()
def regressions(
    run: RunArg,
    window: Window = 30,
    durations: Annotated[
        bool, typer.Option(help="Also analyse test durations, not only dtf_metric values.")
    ] = True,
    as_json: AsJson = False,
) -> None:
    """Performance changes (metrics and durations, per hardware) up to a run."""
    with _store() as store:
        report = find_regressions(store, _run_id(store, run), window=window, durations=durations)
    if as_json:
        _print_json(report.as_dict())
        return
    console.print(regressions_table(report))


@app.command()
def report(
    run: RunArg,
    html: Annotated[Path, typer.Option("--html", help="Write a self-contained HTML page here.")],
    window: Window = 30,
) -> None:
    """Write a run's HTML report: summary, failures, timeline, trends, flaky tests."""
    with _store() as store:
        path = write_report(store, _run_id(store, run), html, window=window)
    console.print(f"report written to {path}")
