"""The `dtf` command line: run campaigns, manage the local server and cluster, read results."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.table import Table

from dtf.cluster.local import cluster_status, ensure_cluster, stop_cluster
from dtf.cluster.profiles import default_profiles
from dtf.config import database_url, dtf_home
from dtf.errors import DtfError
from dtf.launching import LaunchRequest, load_launcher
from dtf.reporting import render_summary
from dtf.runs import new_run_id
from dtf.server import ServerInfo, ensure_server, server_env, server_status, stop_server
from dtf.spec.resolve import resolve_target
from dtf.store.results import ResultStore

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
server_app = typer.Typer(help="The local Prefect server dtf manages.", no_args_is_help=True)
cluster_app = typer.Typer(help="The local Dask cluster dtf manages.", no_args_is_help=True)
app.add_typer(server_app, name="server")
app.add_typer(cluster_app, name="cluster")
console = Console()
errors = Console(stderr=True)

Workers = Annotated[int, typer.Option("--workers", min=1, help="Local cluster size.")]


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
    server = _server(home)
    env = {"PREFECT_API_URL": server.api_url, **server_env(home)}
    os.environ.update(env)
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
    render_summary(store, result.run_id, console)
    console.print(f"wall time {time.monotonic() - started:.1f}s")
    run_row = store.run(result.run_id) or {}
    store.close()
    if run_row.get("verdict") != "passed":
        raise typer.Exit(1)


def _server(home: Path) -> ServerInfo:
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        return ServerInfo(api_url=configured.rstrip("/"), pid=None, managed=False)
    return ensure_server(home)


@app.command()
def down() -> None:
    """Stop the local cluster and Prefect server that dtf started."""
    home = dtf_home()
    cluster = stop_cluster(home)
    server = stop_server(home)
    console.print(f"cluster {'stopped' if cluster else 'was not running'}; "
                  f"server {'stopped' if server else 'was not running'}")  # fmt: skip


@app.command()
def runs(
    limit: Annotated[int, typer.Option(min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List recent campaign runs from the results store."""
    rows = ResultStore(database_url()).recent_runs(limit)
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table(title=f"Recent runs ({database_url()})")
    for column in ("run", "campaign", "started", "verdict", "tests", "failing"):
        table.add_column(column)
    for row in rows:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["started_at"]))
        table.add_row(row["run_id"], row["campaign"], started, row["verdict"] or row["status"],
                      str(row["tests"] or 0), str(row["failing"] or 0))  # fmt: skip
    console.print(table)


@server_app.command("up")
def server_up() -> None:
    """Start (or reuse) the local Prefect server and print its UI URL."""
    console.print(f"Prefect server: {ensure_server(dtf_home()).ui_url}")


@server_app.command("down")
def server_down() -> None:
    console.print("stopped" if stop_server(dtf_home()) else "was not running")


@server_app.command("status")
def server_state() -> None:
    info = server_status(dtf_home())
    console.print(f"running at {info.ui_url}" if info else "not running")
    if info is None:
        raise typer.Exit(1)


@cluster_app.command("up")
def cluster_up(workers: Workers = 2) -> None:
    """Start (or reuse) the local scheduler and workers."""
    home = dtf_home()
    env = {"PREFECT_API_URL": _server(home).api_url, **server_env(home)}
    info = ensure_cluster(home, default_profiles(workers), env)
    console.print(f"Dask scheduler {info.address}, workers: {', '.join(info.workers)}")


@cluster_app.command("down")
def cluster_down() -> None:
    console.print("stopped" if stop_cluster(dtf_home()) else "was not running")


@cluster_app.command("status")
def cluster_state() -> None:
    info = cluster_status(dtf_home())
    console.print(f"{info.address}: {', '.join(info.workers)}" if info else "not running")
    if info is None:
        raise typer.Exit(1)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: dtf errors print one clear line and exit non-zero."""
    code = 0
    try:
        returned = app(args=argv, standalone_mode=False)
        # Without standalone mode, click returns the code of a typer.Exit instead of raising.
        code = returned if isinstance(returned, int) else 0
    except DtfError as exc:
        errors.print(f"[bold red]error:[/] {exc}", highlight=False)
        code = exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.exceptions.Abort:
        errors.print("aborted")
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    # After a flow run, Prefect's and Dask's background threads still hold DuckDB objects, and
    # a normal interpreter exit makes DuckDB's bindings print dozens of "nanobind: leaked"
    # lines. The launcher has already delivered the flow's logs and events, so end here.
    os._exit(code)
