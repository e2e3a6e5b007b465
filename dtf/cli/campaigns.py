"""`dtf run`: run a campaign on the local (or configured) Prefect server and Dask cluster."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from dtf.cli.app import app, console
from dtf.cli.planning import parse_matrix
from dtf.cli.progress import campaign_progress
from dtf.cli.services import local_services
from dtf.config import database_url, dtf_home
from dtf.errors import DtfError
from dtf.launching import LaunchRequest, load_launcher
from dtf.reporting import render_summary
from dtf.runs import new_run_id
from dtf.services import spawn
from dtf.spec.resolve import resolve_target
from dtf.store.results import ResultStore
from dtf.warm.launcher import ensure_launcher


@app.command()
def run(
    target: Annotated[
        Path | None, typer.Argument(help="A campaign YAML file, or a path of tests.")
    ] = None,
    keyword: Annotated[str | None, typer.Option("-k", help="Only tests matching this -k.")] = None,
    marker: Annotated[str | None, typer.Option("-m", help="Only tests matching this -m.")] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Local cluster size (default: reuse, else 2)."),
    ] = None,
    test_timeout: Annotated[float | None, typer.Option(help="Seconds per test.")] = None,
    shard_timeout: Annotated[float | None, typer.Option(help="Seconds per shard.")] = None,
    idle_timeout: Annotated[float | None, typer.Option(help="Seconds without output.")] = None,
    matrix: Annotated[
        list[str] | None, typer.Option("--matrix", help="A matrix dimension, NAME=VALUE.")
    ] = None,
    resume: Annotated[
        str | None, typer.Option(help="Finish an interrupted run: only shards without results.")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(help="Use this run id (default: generated).")
    ] = None,
    detach: Annotated[
        bool, typer.Option(help="Run in the background; print the run id and its log file.")
    ] = False,
) -> None:
    """Run a campaign on the local server and cluster (started if needed); exit 1 if it fails."""
    limits = {k: v for k, v in {"test_timeout": test_timeout, "shard_timeout": shard_timeout,
              "idle_timeout": idle_timeout}.items() if v is not None}  # fmt: skip
    if resume is not None:
        request = _resume_request(resume)
    elif target is None:
        raise DtfError("dtf run needs a campaign file or a test path (or --resume RUN_ID)")
    else:
        spec, _ = resolve_target(target, Path.cwd())  # bad input fails before services start
        request = LaunchRequest(
            target=str(target.resolve()), run_id=run_id or new_run_id(spec.name),
            scheduler_address="",
            keyword=keyword, marker=marker, limits=limits, matrix=parse_matrix(matrix or []),
            campaign=spec.name,
        )  # fmt: skip
    home = dtf_home()
    if detach:
        _detach(request, home)
        return
    started = time.monotonic()
    server, cluster = local_services(home, workers)
    console.print(f"Prefect UI: {server.ui_url}   Dask scheduler: {cluster.address}")
    manifest = home / "runs" / request.run_id / "manifest.json"
    with campaign_progress(console, request.run_id, manifest, database_url()):
        result = load_launcher()(dataclasses.replace(request, scheduler_address=cluster.address))
    store = ResultStore(database_url(), upgrade=False)
    try:
        with store.session():  # the summary's reads open the DuckDB file once
            store.upgrade()  # a flow that failed before opening the store left it as it was
            verdict = (store.run(result.run_id) or {}).get("verdict")
            if verdict is None:
                raise DtfError(f"campaign flow ended {result.state} without a verdict: "
                               f"{result.message}")  # fmt: skip
            render_summary(store, result.run_id, console)
        if verdict != "passed" and result.message:
            console.print(result.message, soft_wrap=True, highlight=False)
    finally:
        store.close()
    console.print(f"wall time {time.monotonic() - started:.1f}s")
    ensure_launcher(home)  # started after the run, so the next `dtf run` skips the imports
    if verdict != "passed":
        raise typer.Exit(1)


def _detach(request: LaunchRequest, home: Path) -> None:
    """Start the same run as a background `dtf run` process (its own session) and return."""
    log = home / "runs" / request.run_id / "dtf-run.log"
    argv = [str(Path(sys.executable).with_name("dtf")), "run", request.target,
            "--run-id", request.run_id]  # fmt: skip
    argv += ["-k", request.keyword] if request.keyword else []
    argv += ["-m", request.marker] if request.marker else []
    for limit, seconds in request.limits.items():
        argv += [f"--{limit.replace('_', '-')}", str(seconds)]
    for dimension, value in request.matrix.items():
        argv += ["--matrix", f"{dimension}={value}"]
    pid = spawn(argv, log=log, env=dict(os.environ), cwd=Path.cwd())
    console.print(f"run {request.run_id} started in the background (pid {pid}); log: {log}")
    console.print(f"follow it with: dtf show {request.run_id}   (or the Prefect UI)")


def _resume_request(run_id: str) -> LaunchRequest:
    """Rebuild an interrupted run's request from what the store recorded when it started."""
    store = ResultStore(database_url())
    try:
        row = store.run(run_id)
    finally:
        store.close()
    if row is None:
        raise DtfError(f"no run '{run_id}' in {database_url()}: nothing to resume")
    recorded = json.loads(row["parameters"] or "{}")
    return LaunchRequest(
        target=recorded["target"], run_id=run_id, scheduler_address="",
        keyword=recorded.get("keyword"), marker=recorded.get("marker"),
        limits=recorded.get("limits") or {}, resume=True, matrix=recorded.get("matrix") or {},
        campaign=row["campaign"],
    )  # fmt: skip
