"""`dtf server`, `dtf cluster` and `dtf down`: the local services dtf manages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from dtf.cli.app import app, console
from dtf.cluster.local import cluster_status, ensure_cluster, stop_cluster
from dtf.cluster.profiles import default_profiles
from dtf.config import dtf_home
from dtf.fingerprint import code_fingerprint
from dtf.server import ServerInfo, ensure_server, server_env, server_status, stop_server

server_app = typer.Typer(help="The local Prefect server dtf manages.", no_args_is_help=True)
cluster_app = typer.Typer(help="The local Dask cluster dtf manages.", no_args_is_help=True)
app.add_typer(server_app, name="server")
app.add_typer(cluster_app, name="cluster")

Workers = Annotated[int, typer.Option("--workers", min=1, help="Local cluster size.")]


def prefect_server(home: Path) -> ServerInfo:
    """The configured server ($PREFECT_API_URL), else the local one dtf manages."""
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


@server_app.command("up")
def server_up() -> None:
    """Start (or reuse) the local Prefect server and print its UI URL."""
    console.print(f"Prefect server: {ensure_server(dtf_home()).ui_url}")


@server_app.command("down")
def server_down() -> None:
    """Stop the local Prefect server."""
    console.print("stopped" if stop_server(dtf_home()) else "was not running")


@server_app.command("status")
def server_state() -> None:
    """Say whether the local Prefect server runs, and where; exit 1 if it does not."""
    info = server_status(dtf_home())
    console.print(f"running at {info.ui_url}" if info else "not running")
    if info is None:
        raise typer.Exit(1)


@cluster_app.command("up")
def cluster_up(workers: Workers = 2) -> None:
    """Start (or reuse) the local scheduler and workers."""
    home = dtf_home()
    env = {"PREFECT_API_URL": prefect_server(home).api_url, **server_env(home),
           "DTF_CODE_FINGERPRINT": code_fingerprint()}  # fmt: skip
    info = ensure_cluster(home, default_profiles(workers), env)
    console.print(f"Dask scheduler {info.address}, workers: {', '.join(info.workers)}")


@cluster_app.command("down")
def cluster_down() -> None:
    """Stop the local scheduler and workers."""
    console.print("stopped" if stop_cluster(dtf_home()) else "was not running")


@cluster_app.command("status")
def cluster_state() -> None:
    """Show the local cluster's scheduler and live workers; exit 1 if it does not run."""
    info = cluster_status(dtf_home())
    console.print(f"{info.address}: {', '.join(info.workers)}" if info else "not running")
    if info is None:
        raise typer.Exit(1)
