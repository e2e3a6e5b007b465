"""The `dtf` Typer application and the consoles every command prints to."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    help="dtf: distributed test campaigns on Prefect, Dask and a SQL results store.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)
