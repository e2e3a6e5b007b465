"""`dtf junit RUN`: a run's results as JUnit XML for Jenkins, GitLab and GitHub reporters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dtf.cli.app import app, console
from dtf.config import database_url
from dtf.errors import DtfError
from dtf.junit import write_junit
from dtf.store.results import ResultStore


@app.command()
def junit(
    run_id: Annotated[str, typer.Argument(help="The run whose results to write.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The XML file to write.")],
) -> None:
    """Write a run's results as JUnit XML; reruns become flakyFailure/rerunFailure elements."""
    store = ResultStore(database_url())
    try:
        run = store.run(run_id)
        if run is None:
            raise DtfError(f"no run '{run_id}' in {store.location}")
        rows = store.results_of(run_id)
    finally:
        store.close()
    write_junit(rows, output, name=str(run["campaign"]), timestamp=run["started_at"])
    console.print(f"wrote {len(rows)} results of {run_id} to {output}")
