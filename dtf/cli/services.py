"""`dtf server`, `dtf cluster` and `dtf down`: the local services dtf manages."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dtf.cli.app import app, console
from dtf.cli.recovery import circuit_rows, circuits_table
from dtf.cluster.fleet import WorkerInfo, live_workers
from dtf.cluster.fleetfile import load_fleet_profile
from dtf.cluster.local import (
    ClusterInfo,
    cluster_status,
    ensure_cluster,
    running_cluster,
    stop_cluster,
)
from dtf.cluster.profiles import default_profiles, local_browsers
from dtf.cluster.worker import TlsFiles
from dtf.config import database_url, dtf_home
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
from dtf.store.results import ResultStore
from dtf.warm.launcher import ensure_launcher, stop_launcher

server_app = typer.Typer(help="The local Prefect server dtf manages.", no_args_is_help=True)
cluster_app = typer.Typer(help="The local Dask cluster dtf manages.", no_args_is_help=True)
app.add_typer(server_app, name="server")
app.add_typer(cluster_app, name="cluster")

Workers = Annotated[int, typer.Option("--workers", min=1, help="Local cluster size.")]
TlsPath = Annotated[Path | None, typer.Option(exists=True, dir_okay=False)]
DUCKDB_PREFIX = "duckdb:///"


def prefect_server(home: Path) -> ServerInfo:
    """The configured server ($PREFECT_API_URL), else the local one dtf manages."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        return ServerInfo(api_url=configured.rstrip("/"), pid=None, managed=False)
    return ensure_server(home)


def local_services(home: Path, workers: int | None) -> tuple[ServerInfo, ClusterInfo]:
    """The Prefect server (configured or managed) and the local cluster a flow runs on.

    Sets PREFECT_API_URL in this process, so the flow never starts an ephemeral API. A
    running cluster (say, a rehearsal fleet) is reused unless `workers` asks for a size.
    """
    server = prefect_server(home)
    env = {"PREFECT_API_URL": server.api_url, **server_env(home)}
    os.environ.update(env)
    env["DTF_CODE_FINGERPRINT"] = code_fingerprint()
    cluster = (running_cluster(home, env) if workers is None else None) or ensure_cluster(
        home, default_profiles(workers or 2, local_browsers()), env
    )
    return server, cluster


@app.command()
def down() -> None:
    """Stop the local cluster and Prefect server that dtf started."""
    home = dtf_home()
    stop_launcher(home)
    cluster = stop_cluster(home)
    server = stop_server(home)
    console.print(f"cluster {'stopped' if cluster else 'was not running'}; "
                  f"server {'stopped' if server else 'was not running'}")  # fmt: skip


@server_app.command("up")
def server_up() -> None:
    """Start (or reuse) the local Prefect server and print its UI URL."""
    home = dtf_home()
    console.print(f"Prefect server: {ensure_server(home).ui_url}")
    ensure_launcher(home)


@server_app.command("down")
def server_down() -> None:
    """Stop the local Prefect server."""
    stop_launcher(dtf_home())
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
    ensure_launcher(home)
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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a cluster's workers, resources and load, and the circuit breakers the store
    holds open or half-open (per worker and per hardware class); exit 1 if it does not run."""
    tripped = tripped_circuits()
    tls = TlsFiles.from_options(tls_ca_file, tls_cert, tls_key)
    address = scheduler
    if address is None:
        info = cluster_status(dtf_home())
        address = info.address if info is not None else None
    workers = live_workers(address, security=tls.security() if tls else None) if address else []
    if as_json:
        print(json.dumps({"scheduler": address, "running": address is not None,
                          "workers": [_worker_json(w) for w in workers],
                          "circuits": tripped}, indent=1))  # fmt: skip
    else:
        console.print(fleet_table(address, workers) if address else "not running")
        console.print(circuits_table(tripped, "Open circuit breakers") if tripped
                      else "circuit breakers: none open")  # fmt: skip
    if address is None:
        raise typer.Exit(1)


def tripped_circuits() -> list[dict[str, Any]]:
    """The open and half-open breakers in the results store (none when there is no store)."""
    url = database_url()
    if url.startswith(DUCKDB_PREFIX) and not Path(url.removeprefix(DUCKDB_PREFIX)).is_file():
        return []  # no campaign has run here: do not create a store just to look
    store = ResultStore(url)
    try:
        return circuit_rows(store, time.time(), tripped_only=True)
    finally:
        store.close()


def _worker_json(worker: WorkerInfo) -> dict[str, Any]:
    return {"name": worker.name, "address": worker.address, "resources": worker.resources,
            "nthreads": worker.nthreads, "processing": worker.processing,
            "simulated": list(worker.simulated) if worker.simulated is not None else None,
            "hardware": _hardware_summary(worker)}  # fmt: skip


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
