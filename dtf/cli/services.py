"""`dtf server`, `dtf cluster` and `dtf down`: the local services dtf manages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dtf.cli.app import app, console
from dtf.cluster.fleet import WorkerInfo, live_workers
from dtf.cluster.fleetfile import load_fleet_profile
from dtf.cluster.local import cluster_status, ensure_cluster, stop_cluster
from dtf.cluster.profiles import default_profiles, local_browsers
from dtf.cluster.worker import TlsFiles
from dtf.config import dtf_home
from dtf.fingerprint import code_fingerprint
from dtf.hardware.resources import resources_arg
from dtf.server import (
    ServerInfo,
    describe_server,
    ensure_server,
    server_env,
    server_status,
    stop_server,
)

server_app = typer.Typer(help="The local Prefect server dtf manages.", no_args_is_help=True)
cluster_app = typer.Typer(help="The local Dask cluster dtf manages.", no_args_is_help=True)
app.add_typer(server_app, name="server")
app.add_typer(cluster_app, name="cluster")

Workers = Annotated[int, typer.Option("--workers", min=1, help="Local cluster size.")]
TlsPath = Annotated[Path | None, typer.Option(exists=True, dir_okay=False)]


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
    """Show the local Prefect server's UI, API, pid, database and version; exit 1 if down."""
    info = server_status(dtf_home())
    if info is None:
        console.print("not running")
        raise typer.Exit(1)
    for line in describe_server(info):
        console.print(line, highlight=False)


@cluster_app.command("up")
def cluster_up(
    workers: Workers = 2,
    profile: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="A fleet profile YAML to simulate."),
    ] = None,
) -> None:
    """Start (or reuse) the local scheduler and workers, optionally from a fleet profile."""
    home = dtf_home()
    profiles = (
        load_fleet_profile(profile) if profile else default_profiles(workers, local_browsers())
    )
    env = {"PREFECT_API_URL": prefect_server(home).api_url, **server_env(home),
           "DTF_CODE_FINGERPRINT": code_fingerprint()}  # fmt: skip
    info = ensure_cluster(home, profiles, env)
    console.print(f"Dask scheduler {info.address}, workers: {', '.join(info.workers)}")


@cluster_app.command("down")
def cluster_down() -> None:
    """Stop the local scheduler and workers."""
    console.print("stopped" if stop_cluster(dtf_home()) else "was not running")


@cluster_app.command("status")
def cluster_state(
    scheduler: Annotated[
        str | None, typer.Option(help="Any scheduler's address (default: the local cluster).")
    ] = None,
    tls_ca_file: TlsPath = None,
    tls_cert: TlsPath = None,
    tls_key: TlsPath = None,
) -> None:
    """Show a cluster's workers, resources and load; exit 1 if it does not run."""
    tls = TlsFiles.from_options(tls_ca_file, tls_cert, tls_key)
    address = scheduler
    if address is None:
        info = cluster_status(dtf_home())
        if info is None:
            console.print("not running")
            raise typer.Exit(1)
        address = info.address
    workers = live_workers(address, security=tls.security() if tls else None)
    console.print(fleet_table(address, workers))


def fleet_table(address: str, workers: list[WorkerInfo]) -> Table:
    table = Table(title=f"Dask scheduler {address}: {len(workers)} workers")
    for column in ("worker", "resources", "simulated", "threads", "processing", "hardware"):
        table.add_column(column)
    for w in workers:
        table.add_row(
            w.name, resources_arg(w.resources), _simulated(w),
            str(w.nthreads), str(w.processing), _hardware_summary(w),
        )  # fmt: skip
    return table


def _simulated(worker: WorkerInfo) -> str:
    if worker.simulated is None:
        return "?"  # started without dtf's preload: the worker does not say
    return ", ".join(worker.simulated) or "-"


def _hardware_summary(worker: WorkerInfo) -> str:
    tax = worker.hardware
    if tax is None:
        return "not published"
    gpus = [d.name for d in (*tax.nvidia.devices, *tax.amd.devices)]
    parts = [f"{len(gpus)}x {gpus[0]}" if gpus else "", "MPS" if tax.mps.present else ""]
    parts += [f"{b.kind}" + (" +webgpu" if b.webgpu.available else "") for b in tax.browsers]
    return ", ".join(p for p in parts if p) or "cpu only"
