"""`dtf repro RUN TEST`: the commands that reproduce one test of a run locally, or run them."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from dtf.analysis.runs import get_run, latest_run_id
from dtf.cli.app import app
from dtf.config import database_url, dtf_home
from dtf.environments.repro import Reproduction, execute, render, reproduction_steps
from dtf.environments.spec import WorkspaceSpec
from dtf.errors import DtfError, StoreError
from dtf.execution.planned import read_manifest
from dtf.planning.manifest import Manifest
from dtf.store.environments import environments_of
from dtf.store.results import ResultStore


@app.command()
def repro(
    run: Annotated[str, typer.Argument(help="A run id (or a unique part of one), or 'latest'.")],
    test: Annotated[str, typer.Argument(help="A test id of that run, or a unique part of one.")],
    run_it: Annotated[
        bool, typer.Option("--run", help="Run the commands too; exit with pytest's code.")
    ] = False,
    workdir: Annotated[
        Path | None, typer.Option(help="With --run: work here (kept) instead of a temp dir.")
    ] = None,
) -> None:
    """Print the commands that reproduce one test of a run: checkout, environment, pytest."""
    store = ResultStore(database_url())
    try:
        reproduction = load_reproduction(store, run, test)
    finally:
        store.close()
    if not run_it:
        typer.echo(render(reproduction), nl=False)
        return
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        raise typer.Exit(_execute(reproduction, workdir.resolve()))
    with tempfile.TemporaryDirectory(prefix="dtf-repro-") as scratch:
        code = _execute(reproduction, Path(scratch))
    raise typer.Exit(code)


def load_reproduction(store: ResultStore, run: str, test: str) -> Reproduction:
    """What the store and the run's manifest recorded about `test`, as reproduction steps."""
    row = _run_row(store, run)
    run_id = str(row["run_id"])
    result = _result(store.results_of(run_id), test, run_id)
    manifest = _manifest(run_id)
    workspace = _workspace(row, manifest)
    suite = manifest.suites.get(str(result["suite"]))
    environment = workspace.environment if workspace is not None else None
    held = _held(store, run_id, str(result["worker"] or ""), workspace) if environment else {}
    steps = reproduction_steps(
        workspace, str(result["test_id"]), rootdir=manifest.rootdir, python=manifest.python,
        suite_env=suite.env if suite is not None else {}, installed=held.get("packages", ()),
    )  # fmt: skip
    return Reproduction(
        run_id=run_id, test_id=str(result["test_id"]), outcome=str(result["outcome"]),
        worker=str(result["worker"] or ""), hardware=str(result["hardware"] or ""),
        needs=_needs(manifest, str(result["shard_id"])), steps=steps,
        secrets=environment.secrets if environment is not None else (), environment=held,
    )  # fmt: skip


def _execute(reproduction: Reproduction, workdir: Path) -> int:
    typer.echo(f"reproducing {reproduction.test_id} in {workdir}", err=True)
    return execute(reproduction, workdir, typer.echo)


def _run_row(store: ResultStore, run: str) -> dict[str, Any]:
    if run == "latest":
        found = latest_run_id(store)
        if found is None:
            raise StoreError(f"the results store {store.location} holds no runs yet")
        run = found
    return get_run(store, run)


def _result(rows: list[dict[str, Any]], test: str, run_id: str) -> dict[str, Any]:
    """The latest attempt of `test` (an exact id, else the one id containing it)."""
    ids = sorted({str(r["test_id"]) for r in rows})
    matches = [test] if test in ids else [i for i in ids if test in i]
    if len(matches) != 1:
        shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
        why = f"matches several: {shown}" if matches else "matches none"
        raise StoreError(f"'{test}' {why} of the tests of run {run_id}; give its full id")
    attempts = [r for r in rows if r["test_id"] == matches[0]]
    return max(attempts, key=lambda r: int(r["attempt"]))


def _manifest(run_id: str) -> Manifest:
    path = dtf_home() / "runs" / run_id / "manifest.json"
    if not path.is_file():
        raise DtfError(f"cannot reproduce run {run_id}: its plan {path} is missing")
    return read_manifest(path)


def _workspace(row: dict[str, Any], manifest: Manifest) -> WorkspaceSpec | None:
    """The workspace the run recorded in its parameters (or its manifest, once it has one)."""
    parameters = json.loads(str(row.get("parameters") or "{}"))
    recorded = parameters.get("workspace") if isinstance(parameters, dict) else None
    if recorded is None:
        recorded = getattr(manifest, "workspace", None)
    if recorded is None:
        return None
    return WorkspaceSpec.model_validate(recorded)


def _held(
    store: ResultStore, run_id: str, worker: str, workspace: WorkspaceSpec | None
) -> dict[str, Any]:
    """What the environment of the worker that ran the test held, as the run recorded it
    (with the run's lock hash; else that worker's only record); empty when none was kept."""
    mine = [e for e in environments_of(store, run_id) if e["worker"] == worker]
    lock = workspace.lock_hash if workspace is not None else ""
    exact = [e for e in mine if e["lock_hash"] == lock]
    found = exact or (mine if len(mine) == 1 else [])
    return found[0] if found else {}


def _needs(manifest: Manifest, shard_id: str) -> dict[str, float]:
    try:
        return dict(manifest.shard(shard_id).needs)
    except KeyError:  # a collection error's pseudo-shard: it has no plan
        return {}
