"""The `dtf` command line; each module in this package registers one area's commands."""

from __future__ import annotations

import os
import sys

import click
from typer._click.exceptions import ClickException as TyperClickException  # typer vendors click

# Each module registers its commands on import.
from dtf.cli import (  # noqa: F401
    campaigns,
    db,
    deploy,
    fleet,
    junit,
    planning,
    publish,
    quarantine,
    recovery,
    repro,
    results,
    services,
    simulate,
)
from dtf.cli.app import app, errors
from dtf.errors import DtfError
from dtf.launching import run_after_command

__all__ = ["app", "main", "run_cli"]


def main(argv: list[str] | None = None) -> None:
    """Run the CLI in this process and end it with the command's exit code."""
    code = run_cli(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    run_after_command()  # say, deliver a flow run's last logs and events
    sys.stdout.flush()
    sys.stderr.flush()
    # After a flow run, Prefect's and Dask's background threads still hold DuckDB objects, and
    # a normal interpreter exit makes DuckDB's bindings print dozens of "nanobind: leaked"
    # lines. What must happen before the end has just run, so end here.
    os._exit(code)


def run_cli(argv: list[str] | None = None) -> int:
    """Run one command; its exit code. dtf errors print one clear line, not a traceback."""
    try:
        returned = app(args=argv, standalone_mode=False)
        # Without standalone mode, click returns the code of a typer.Exit instead of raising.
        return returned if isinstance(returned, int) else 0
    except DtfError as exc:
        errors.print(f"[bold red]error:[/] {exc}", highlight=False)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.ClickException, TyperClickException) as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        errors.print("aborted")
        return 130
