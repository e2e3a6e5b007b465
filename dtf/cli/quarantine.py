"""`dtf quarantine add|remove|list|suggest|verify`: tests that run and report, failing nothing."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dtf.analysis.flaky import flaky_tests
from dtf.cli.app import app, console
from dtf.cli.services import local_services
from dtf.config import database_url, dtf_home
from dtf.errors import DtfError
from dtf.launching import LaunchRequest, load_launcher
from dtf.quarantine import QuarantineEntry, suggest
from dtf.spec.resolve import resolve_target
from dtf.store.quarantines import (
    active_quarantines,
    add_quarantine,
    quarantines,
    release_quarantine,
)
from dtf.store.results import ResultStore

quarantine_app = typer.Typer(help="Quarantined tests.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")

Campaign = Annotated[str, typer.Option("--campaign", "-c", help="The campaign it applies to.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@quarantine_app.command("add")
def add(
    pattern: Annotated[str, typer.Argument(help="A test id or fnmatch pattern.")],
    campaign: Campaign,
    reason: Annotated[str, typer.Option(help="Why it is quarantined.")],
    owner: Annotated[str, typer.Option(help="The issue that owns the fix (e.g. JIRA key).")],
    days: Annotated[float, typer.Option(min=0.01, help="Expires after this many days.")] = 14,
    hardware: Annotated[str | None, typer.Option(help="Only on this hardware class.")] = None,
) -> None:
    """Quarantine tests: they still run and are reported, but do not fail the campaign."""
    now = time.time()
    entry = QuarantineEntry(campaign, pattern, reason, owner, now, now + days * 86400, hardware)
    store = ResultStore(database_url())
    try:
        add_quarantine(store, entry)
    finally:
        store.close()
    console.print(f"quarantined {pattern} in {campaign} for {days:g} days (owner {owner})")


@quarantine_app.command("remove")
def remove(
    pattern: str,
    campaign: Campaign,
    reason: Annotated[str | None, typer.Option(help="Why it is released (kept).")] = None,
) -> None:
    """Release a quarantine; its history stays in the store."""
    store = ResultStore(database_url())
    try:
        released = release_quarantine(store, campaign, pattern, reason)
    finally:
        store.close()
    if not released:
        raise DtfError(f"no active quarantine of '{pattern}' in campaign '{campaign}'")
    console.print(f"released {pattern} in {campaign}")


@quarantine_app.command("list")
def list_(
    campaign: Annotated[str | None, typer.Option("--campaign", "-c")] = None,
    released: Annotated[bool, typer.Option("--all", help="Released ones too.")] = False,
    as_json: AsJson = False,
) -> None:
    """Quarantines in force (and expired ones not yet released, marked as such)."""
    store = ResultStore(database_url())
    try:
        entries = quarantines(store, campaign, include_released=released)
    finally:
        store.close()
    if as_json:
        print(json.dumps([asdict(e) for e in entries], indent=1))
        return
    now = time.time()
    table = Table(title="Quarantined tests")
    for column in ("campaign", "pattern", "hardware", "owner", "expires", "reason"):
        table.add_column(column)
    for e in entries:
        expires = "never" if e.expires_at is None else time.strftime(
            "%Y-%m-%d", time.localtime(e.expires_at))  # fmt: skip
        state = " (released)" if e.released_at else "" if e.active(now) else " (expired)"
        table.add_row(e.campaign, e.pattern, e.hardware or "any", e.owner_issue,
                      expires + state, e.reason)  # fmt: skip
    console.print(table)


@quarantine_app.command("suggest")
def suggest_(
    campaign: Campaign,
    threshold: Annotated[float, typer.Option(help="Minimum flakiness (0-1).")] = 0.2,
    as_json: AsJson = False,
) -> None:
    """Flaky tests above the threshold worth quarantining (never consistently failing ones)."""
    store = ResultStore(database_url())
    try:
        flaky = flaky_tests(store, campaign=campaign, limit=None)
        taken = [e.pattern for e in quarantines(store, campaign)]
    finally:
        store.close()
    picked = suggest(flaky, min_flakiness=threshold, quarantined=taken)
    if as_json:
        print(json.dumps([asdict(f) for f in picked], indent=1, default=str))
        return
    for f in picked:
        console.print(f"{f.test_id}  flakiness {f.flakiness:.2f} over {f.runs} runs  "
                      f"(dtf quarantine add '{f.test_id}' -c {campaign} ...)")  # fmt: skip
    if not picked:
        console.print("no test is flaky enough to suggest")


@quarantine_app.command("verify")
def verify(
    target: Annotated[Path, typer.Argument(help="The campaign file whose quarantines to verify.")],
    runs: Annotated[int, typer.Option(min=1, help="Passes needed to release a test.")] = 5,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Local cluster size (default: reuse, else 2)."),
    ] = None,
) -> None:
    """Re-run the campaign's quarantined tests on the cluster (the verify-quarantine flow);
    release those that pass every run, keep the others; their results are stored."""
    spec, _ = resolve_target(target, Path.cwd())  # bad input fails before services start
    store = ResultStore(database_url())
    try:
        pending = active_quarantines(store, spec.name)
    finally:
        store.close()
    if not pending:
        console.print(f"campaign {spec.name} has no active quarantine: nothing to verify")
        return
    home = dtf_home()
    server, cluster = local_services(home, workers)
    console.print(f"Prefect UI: {server.ui_url}   Dask scheduler: {cluster.address}")
    console.print(f"verifying {len(pending)} quarantines of {spec.name}, {runs} runs each")
    request = LaunchRequest(target=str(target.resolve()), run_id="",
                            scheduler_address=cluster.address, trigger="verify-quarantine",
                            campaign=spec.name, runs=runs)  # fmt: skip
    result = load_launcher("verify-quarantine")(request)
    if result.state != "Completed":
        raise DtfError(f"verify-quarantine ended {result.state}: {result.message}")
    _print_verification(json.loads(result.message))


def _print_verification(report: dict[str, Any]) -> None:
    for pattern, why in report["released"].items():
        console.print(f"[green]released[/] {pattern}: {why}", highlight=False, soft_wrap=True)
    for pattern, why in report["kept"].items():
        console.print(f"[yellow]kept[/] {pattern}: {why}", highlight=False, soft_wrap=True)
    if report["run_id"]:
        console.print(f"results: dtf show {report['run_id']}", highlight=False)
