"""`dtf plan` (a dry run: DAG, shards, placement, makespan) and `dtf compare` (two runs)."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dtf.cli.app import app, console
from dtf.cluster.fleet import live_workers
from dtf.cluster.fleetfile import load_fleet_profile
from dtf.cluster.local import cluster_status
from dtf.cluster.profiles import default_profiles, local_browsers
from dtf.config import database_url, dtf_home
from dtf.discovery import Discovered, discover
from dtf.errors import DtfError, StoreError
from dtf.planning.campaign import plan_campaign, suite_hardware
from dtf.planning.compare import DURATION_RATIO, DURATION_SECONDS, RunComparison, compare_runs
from dtf.planning.report import PlanInputs, plan_document
from dtf.planning.schedule import Worker, estimate_schedule
from dtf.spec.matrix import resolve_matrix
from dtf.spec.models import Campaign
from dtf.spec.resolve import resolve_target
from dtf.store.results import ResultStore

# `dtf plan` only reads history: it should not wait long on a campaign holding the DuckDB file.
HISTORY_LOCK_TIMEOUT = 2.0
DISCOVERY_THREADS = 4

MatrixArgs = Annotated[
    list[str] | None,
    typer.Option("--matrix", help="A matrix dimension's value, NAME=VALUE (repeatable)."),
]


@app.command()
def plan(
    target: Annotated[Path, typer.Argument(help="A campaign YAML file, or a path of tests.")],
    matrix: MatrixArgs = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    profile: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Plan against this fleet profile YAML."),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Plan against the live Dask scheduler at this address.")
    ] = None,
    keyword: Annotated[str | None, typer.Option("-k", help="Only tests matching this -k.")] = None,
    marker: Annotated[str | None, typer.Option("-m", help="Only tests matching this -m.")] = None,
) -> None:
    """Dry run: collect, shard and place a campaign without running anything.

    Shows the suite DAG, the suites the matrix selects, the shards with their
    estimated durations and needs, where they would run, and the estimated
    makespan against its lower bound. Exits 1 if a shard fits no worker.
    """
    spec, source = resolve_target(target, Path.cwd())
    selection = resolve_matrix(spec, parse_matrix(matrix or []))
    chosen = selection.campaign
    discovered = _discover(chosen, source, keyword, marker)
    collected = {name: found.nodeids for name, found in discovered.items()}
    history, note = _history(chosen, collected)
    fleet, fleet_source = _fleet(profile, scheduler)
    manifest = plan_campaign(
        chosen,
        collected,
        history=history,
        run_id="plan",
        python=sys.executable,
        rootdir=str(sorted({str(d.rootdir) for d in discovered.values()})[0]),
        matrix=selection.values,
        fleet={w.name: w.resources for w in fleet},
    )
    schedule = estimate_schedule(
        manifest.shards, levels=manifest.levels, depends_on=manifest.depends_on(), fleet=fleet
    )
    inputs = PlanInputs(
        campaign_file=str(target),
        fleet_source=fleet_source,
        dimensions=spec.matrix.dimensions if spec.matrix else {},
        excluded=selection.excluded,
        requested_targets={
            s.name: s.shard_target_seconds or chosen.defaults.shard_target_seconds
            for s in chosen.suites
        },
        with_history={name: len(h) for name, h in history.items()},
        collect_errors={name: d.collect_errors for name, d in discovered.items()},
        notes=[note] if note else [],
    )
    document = plan_document(manifest, schedule, fleet, inputs)
    if as_json:
        print(json.dumps(document, indent=1))
    else:
        _render_plan(document)
    if schedule.unplaced:
        raise typer.Exit(1)


def parse_matrix(pairs: list[str]) -> dict[str, str]:
    """`NAME=VALUE` strings as a mapping; a malformed or repeated one is a usage error."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise typer.BadParameter(f"'{pair}' is not NAME=VALUE", param_hint="--matrix")
        if name.strip() in values:
            raise typer.BadParameter(f"'{name.strip()}' is given twice", param_hint="--matrix")
        values[name.strip()] = value.strip()
    return values


def _discover(
    spec: Campaign, source: Path, keyword: str | None, marker: str | None
) -> dict[str, Discovered]:
    # Each collection is a pytest subprocess; a few at once cost little and save seconds.
    with ThreadPoolExecutor(max_workers=DISCOVERY_THREADS) as pool:
        futures = {
            s.name: pool.submit(discover, source, s.select.narrowed(keyword, marker).pytest_args())
            for s in spec.suites
        }
        return {name: future.result() for name, future in futures.items()}


def _history(
    spec: Campaign, collected: dict[str, list[str]]
) -> tuple[dict[str, dict[str, float]], str]:
    """Each suite's test durations from the store, if there is one; never creates a store."""
    url = database_url()
    if url.startswith("duckdb:///") and not Path(url.removeprefix("duckdb:///")).exists():
        return {}, "no results store yet: every test is estimated at the default duration"
    hardware = suite_hardware(spec)
    try:
        store = ResultStore(url, lock_timeout=HISTORY_LOCK_TIMEOUT, upgrade=False)
        try:
            return {n: store.duration_history(ids, hardware[n], spec.name)
                    for n, ids in collected.items()}, ""  # fmt: skip
        finally:
            store.close()
    except StoreError as exc:
        return {}, f"history unavailable ({exc}): every test is estimated at the default duration"


def _fleet(profile: Path | None, scheduler: str | None) -> tuple[list[Worker], str]:
    if profile is not None:
        workers = load_fleet_profile(profile)
        return [Worker(p.name, dict(p.resources), p.nthreads) for p in workers], str(profile)
    address = scheduler
    if address is None:
        running = cluster_status(dtf_home())
        address = running.address if running else None
    if address is not None:
        live = live_workers(address)
        return [Worker(w.name, w.resources, w.nthreads or 1) for w in live], f"live {address}"
    default = default_profiles(2, local_browsers())
    return [Worker(p.name, dict(p.resources), p.nthreads) for p in default], "default local fleet"


def _render_plan(doc: dict[str, Any]) -> None:
    console.print(
        f"[bold]Plan[/] of campaign '{doc['campaign']}' ({doc['campaign_file']}); "
        "nothing is executed.",
        highlight=False,
    )
    matrix = doc["matrix"]
    if matrix["values"]:
        shown = ", ".join(f"{k}={v}" for k, v in matrix["values"].items())
        console.print(f"Matrix: {shown}", highlight=False)
        for suite, why in matrix["excluded"].items():
            console.print(f"  not run: {suite}: {why}", highlight=False)
    console.print("Suite DAG (a suite starts once the suites it comes after have finished):")
    deps = {s["name"]: s["depends_on"] for s in doc["suites"]}
    for index, level in enumerate(doc["dag"]["levels"]):
        names = [f"{n} (after {', '.join(deps[n])})" if deps[n] else n for n in level]
        console.print(f"  level {index}: {', '.join(names)}", highlight=False)
    console.print(_suites_table(doc["suites"]))
    console.print(_shards_table(doc["shards"]))
    workers = "; ".join(
        f"{w['name']} ({_res(w['resources'])}, {w['threads']} thread(s))"
        for w in doc["fleet"]["workers"]
    )
    console.print(f"Fleet ({doc['fleet']['source']}): {workers}", highlight=False)
    for shard in doc["unplaced"]:
        console.print(f"[bold red]unplaceable:[/] {shard} needs hardware no worker offers")
    est = doc["estimate"]
    per_class = ", ".join(f"{k} {v:g} s" for k, v in est["work_per_capacity_seconds"].items())
    console.print(
        f"Estimated makespan {est['makespan_seconds']:g} s; lower bound "
        f"{est['lower_bound_seconds']:g} s (critical path {est['critical_path_seconds']:g} s; "
        f"work/capacity {per_class or 'none'}); ratio {est['ratio']:g}; the estimate "
        "starts each level when the whole level before it has finished",
        highlight=False,
    )
    for note in doc["notes"]:
        console.print(f"note: {note}", highlight=False)


def _suites_table(suites: list[dict[str, Any]]) -> Table:
    table = Table(title="Suites")
    for column in ("suite", "tests", "history", "shards", "est. s", "target s", "needs", "prio"):
        table.add_column(column)
    for s in suites:
        target = f"{s['target_seconds']:g}"
        if s["requested_target_seconds"] != s["target_seconds"]:
            target += f" (asked {s['requested_target_seconds']:g})"
        errors = f", {len(s['collect_errors'])} collect errors" if s["collect_errors"] else ""
        table.add_row(
            s["name"],
            f"{s['tests']}{errors}",
            str(s["tests_with_history"]),
            str(s["shards"]),
            f"{s['estimated_seconds']:g}",
            target,
            _res(s["needs"]),
            str(s["priority"]),
        )
    return table


def _shards_table(shards: list[dict[str, Any]]) -> Table:
    table = Table(title="Shards, in submission order")
    for column in ("shard", "tests", "est. s", "needs", "batch", "worker", "start-end s"):
        table.add_column(column)
    for s in shards:
        when = f"{s['start']:g}-{s['end']:g}" if s["worker"] else "-"
        table.add_row(
            s["shard_id"],
            str(s["tests"]),
            f"{s['estimated_seconds']:g}",
            _res(s["needs"]),
            s["batch_key"] or "",
            s["worker"] or "UNPLACEABLE",
            when,
        )
    return table


def _res(resources: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in sorted(resources.items()))


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="The first run id.")],
    run_b: Annotated[str, typer.Argument(help="The second run id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    durations: Annotated[
        bool, typer.Option("--durations", help="Count duration changes as disagreement too.")
    ] = False,
    min_seconds: Annotated[
        float, typer.Option(min=0, help="A duration change must be at least this many seconds.")
    ] = DURATION_SECONDS,
    min_ratio: Annotated[
        float, typer.Option(min=0, help="...and at least this share of the slower duration.")
    ] = DURATION_RATIO,
) -> None:
    """Compare two runs test by test; exit 0 when they agree, 1 when they differ."""
    store = ResultStore(database_url())
    try:
        rows = {run: _run_rows(store, run) for run in (run_a, run_b)}
    finally:
        store.close()
    result = compare_runs(
        run_a, rows[run_a], run_b, rows[run_b], min_seconds=min_seconds, min_ratio=min_ratio
    )
    agree = result.agree(durations=durations)
    if as_json:
        print(json.dumps(_comparison_json(result, agree), indent=1))
    else:
        _render_comparison(result, agree)
    if not agree:
        raise typer.Exit(1)


def _run_rows(store: ResultStore, run_id: str) -> list[dict[str, Any]]:
    rows = store.results_of(run_id)
    if not rows and store.run(run_id) is None:
        raise DtfError(f"no run '{run_id}' in the results store {store.location}")
    return rows


def _comparison_json(result: RunComparison, agree: bool) -> dict[str, Any]:
    return {
        "run_a": result.run_a,
        "run_b": result.run_b,
        "agree": agree,
        "common": result.common,
        "changes": [vars(c) for c in result.changes],
    }


def _render_comparison(result: RunComparison, agree: bool) -> None:
    if result.changes:
        table = Table(title=f"{result.run_a} (A) vs {result.run_b} (B)")
        for column in ("test", "change", "A", "B", "A s", "B s"):
            table.add_column(column)
        for c in result.changes:
            table.add_row(
                c.test_id,
                c.kind,
                c.outcome_a or "-",
                c.outcome_b or "-",
                _secs(c.duration_a),
                _secs(c.duration_b),
            )
        console.print(table)
    counts = {k: len(result.of_kind(k)) for k in ("only_a", "only_b", "outcome", "duration")}
    console.print(
        f"{result.common} tests in both; {counts['only_a']} only in A, {counts['only_b']} only "
        f"in B; {counts['outcome']} outcome changes, {counts['duration']} duration changes: "
        f"[bold]{'the runs agree' if agree else 'the runs differ'}[/]",
        highlight=False,
    )


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
