"""`dtf run`: run a campaign on the local (or configured) Prefect server and Dask cluster."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

from dtf.cli.app import app, console
from dtf.cli.services import Workers, prefect_server
from dtf.cluster.local import ensure_cluster
from dtf.cluster.profiles import default_profiles
from dtf.config import database_url, dtf_home
from dtf.errors import DtfError
from dtf.fingerprint import code_fingerprint
from dtf.launching import LaunchRequest, load_launcher
from dtf.reporting import render_summary
from dtf.runs import new_run_id
from dtf.server import server_env
from dtf.spec.resolve import resolve_target
from dtf.store.results import ResultStore


@app.command()
def run(
    target: Annotated[Path, typer.Argument(help="A campaign YAML file, or a path of tests.")],
    keyword: Annotated[str | None, typer.Option("-k", help="Only tests matching this -k.")] = None,
    marker: Annotated[str | None, typer.Option("-m", help="Only tests matching this -m.")] = None,
    workers: Workers = 2,
    test_timeout: Annotated[float | None, typer.Option(help="Seconds per test.")] = None,
    shard_timeout: Annotated[float | None, typer.Option(help="Seconds per shard.")] = None,
    idle_timeout: Annotated[float | None, typer.Option(help="Seconds without output.")] = None,
) -> None:
    """Run a campaign on the local server and cluster (started if needed); exit 1 if it fails."""
    spec, _ = resolve_target(target, Path.cwd())  # bad input fails before any service starts
    home = dtf_home()
    server = prefect_server(home)
    env = {"PREFECT_API_URL": server.api_url, **server_env(home)}
    os.environ.update(env)
    env["DTF_CODE_FINGERPRINT"] = code_fingerprint()
    started = time.monotonic()
    cluster = ensure_cluster(home, default_profiles(workers), env)
    console.print(f"Prefect UI: {server.ui_url}   Dask scheduler: {cluster.address}")
    limits = {k: v for k, v in {"test_timeout": test_timeout, "shard_timeout": shard_timeout,
              "idle_timeout": idle_timeout}.items() if v is not None}  # fmt: skip
    request = LaunchRequest(
        target=str(target.resolve()), run_id=new_run_id(spec.name),
        scheduler_address=cluster.address, keyword=keyword, marker=marker, limits=limits,
    )  # fmt: skip
    result = load_launcher()(request)
    store = ResultStore(database_url())
    try:
        verdict = (store.run(result.run_id) or {}).get("verdict")
        if verdict is None:
            raise DtfError(f"campaign flow ended {result.state} without a verdict: "
                           f"{result.message}")  # fmt: skip
        render_summary(store, result.run_id, console)
    finally:
        store.close()
    console.print(f"wall time {time.monotonic() - started:.1f}s")
    if verdict != "passed":
        raise typer.Exit(1)
