"""`dtf hardware` and `dtf worker`: what this machine has, and joining a fleet with it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dtf.cli.app import app, console
from dtf.cluster.worker import (
    ListenOptions,
    TlsFiles,
    check_scheme,
    exec_worker,
    worker_launch,
)
from dtf.hardware.detect import detect
from dtf.hardware.model import BrowserInfo, GpuVendor, Taxonomy
from dtf.hardware.resources import derive_resources, parse_resources, resources_arg

NoBrowsers = Annotated[
    bool, typer.Option("--no-browsers", help="Skip finding and probing browsers (seconds).")
]
TlsPath = Annotated[Path | None, typer.Option(exists=True, dir_okay=False)]


@app.command()
def hardware(
    as_json: Annotated[bool, typer.Option("--json", help="Print the taxonomy as JSON.")] = False,
    no_browsers: NoBrowsers = False,
) -> None:
    """Detect this machine's hardware and print it with the Dask resources it implies."""
    tax = detect(browsers=not no_browsers)
    resources = derive_resources(tax)
    if as_json:
        print(json.dumps({"taxonomy": tax.model_dump(mode="json"), "resources": resources},
                         indent=2))  # fmt: skip
        return
    console.print(taxonomy_table(tax))
    console.print(f"resources: {resources_arg(resources)}")


@app.command()
def worker(
    scheduler: Annotated[str, typer.Option(help="Scheduler address, e.g. tcp://host:8786.")],
    resources: Annotated[
        str | None,
        typer.Option(help="k=v,... added to the detected resources (k=0 withdraws one)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Worker name (default: host name).")] = None,
    nthreads: Annotated[int | None, typer.Option(min=1, help="Threads (default: cores).")] = None,
    no_browsers: NoBrowsers = False,
    tls_ca_file: TlsPath = None,
    tls_cert: TlsPath = None,
    tls_key: TlsPath = None,
    local_directory: Annotated[Path | None, typer.Option(file_okay=False)] = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on, reachable from the scheduler.")
    ] = None,
    worker_port: Annotated[str | None, typer.Option(help="Port or range, e.g. 9000:9100.")] = None,
    nanny_port: Annotated[str | None, typer.Option(help="Port or range for the nanny.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the resources and command; start nothing.")
    ] = False,
) -> None:
    """Detect this machine's hardware and run a Dask worker that advertises it."""
    tls = TlsFiles.from_options(tls_ca_file, tls_cert, tls_key)
    check_scheme(scheduler, tls)  # before detection: a wrong address fails in milliseconds
    overrides = parse_resources(resources or "")
    tax = detect(browsers=not no_browsers)
    launch = worker_launch(
        scheduler, tax, overrides=overrides, name=name, nthreads=nthreads, tls=tls,
        local_directory=local_directory, listen=ListenOptions(host, worker_port, nanny_port),
    )  # fmt: skip
    console.print(f"detected in {tax.detection_seconds:.2f}s; "
                  f"resources: {resources_arg(launch.resources)}")  # fmt: skip
    if dry_run:
        console.print(shlex.join(launch.argv), soft_wrap=True, highlight=False)
        return
    exec_worker(launch)


def taxonomy_table(tax: Taxonomy) -> Table:
    table = Table(title=f"hardware of {tax.host} ({tax.detection_seconds:.2f}s)")
    for column in ("component", "status", "details"):
        table.add_column(column)
    cpu = tax.cpu
    table.add_row("cpu", "present", f"{cpu.model}, {cpu.logical_cores} cores, "
                  f"{cpu.memory_gb:g} GB, {' '.join(cpu.isa) or 'no notable ISA'}")  # fmt: skip
    table.add_row("nvidia", *_gpu_row(tax.nvidia))
    table.add_row("amd", *_gpu_row(tax.amd))
    table.add_row("mps", "present" if tax.mps.present else "absent",
                  tax.mps.chip or tax.mps.reason or "")  # fmt: skip
    if not tax.browsers_probed:
        table.add_row("browsers", "skipped", "--no-browsers or DTF_HARDWARE_SKIP")
    elif not tax.browsers:
        table.add_row("browsers", "absent", "no Chromium, Chrome or Firefox found")
    for browser in tax.browsers:
        table.add_row(f"browser {browser.kind}", *_browser_row(browser))
    return table


def _gpu_row(vendor: GpuVendor) -> tuple[str, str]:
    if not vendor.present:
        return "absent", vendor.reason or ""
    devices = "; ".join(
        f"{d.index}: {d.name} {d.memory_gb} GB"
        + (f" cc {d.compute_capability}" if d.compute_capability else "")
        + (f" {d.gfx}" if d.gfx else "")
        for d in vendor.devices
    )
    versions = ", ".join(
        f"{label} {value}"
        for label, value in (("driver", vendor.driver_version), ("runtime", vendor.runtime_version))
        if value
    )
    return "present", f"{devices} (via {vendor.source}{', ' + versions if versions else ''})"


def _browser_row(browser: BrowserInfo) -> tuple[str, str]:
    where = f"{browser.path} {browser.version or ''}".strip()
    if not browser.probed:
        return "not probed", f"{where}: {browser.reason}"
    gpu = browser.webgpu
    webgpu = (f"webgpu: {gpu.vendor}/{gpu.architecture}"
              + (" (fallback adapter)" if gpu.is_fallback else "")
              if gpu.available else f"no webgpu ({gpu.reason})")  # fmt: skip
    webnn = "webnn" if browser.webnn.available else f"no webnn ({browser.webnn.reason})"
    wasm = [f for f in ("wasm_simd", "wasm_threads") if getattr(browser, f).available]
    return "probed", f"{where}; {webgpu}; {webnn}; {' '.join(wasm) or 'no wasm features'}"
