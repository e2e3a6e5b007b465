"""The campaign flow: discover, plan, run shards on Dask by hardware, store, decide."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from prefect.states import Failed

from dtf.config import database_url, dtf_home
from dtf.discovery import Discovered
from dtf.environments.spec import WorkspaceSpec
from dtf.environments.workspace import workspace_parameters
from dtf.errors import DtfError, PlacementError
from dtf.execution.outcomes import CaseResult, ShardOutcome
from dtf.execution.planned import read_manifest, write_manifest
from dtf.planning.campaign import plan_campaign, suite_hardware
from dtf.planning.dag import SuiteStarts
from dtf.planning.manifest import Manifest
from dtf.planning.placement import fits, unplaceable
from dtf.planning.shards import Shard
from dtf.quarantine import excused
from dtf.reporting import failures_markdown, summary_markdown
from dtf.reports.html import write_report
from dtf.runs import new_run_id, run_title
from dtf.spec.matrix import resolve_matrix
from dtf.spec.models import Campaign
from dtf.spec.resolve import resolve_target
from dtf.store.quarantines import quarantines
from dtf.store.results import ResultStore, ShardRecord
from dtf.verdict import GateResult, Verdict, decide_verdict, judge_gate, skips_after
from flows.dask_client import fleet_now
from flows.discovery import discover_campaign
from flows.finalize import publish_run, validate_run
from flows.shard_runs import ShardExecutor, shard_executor


def _run_name() -> str:
    """The run id (it links the UI to the store) and what ran: campaign, matrix, selection."""
    params = flow_run.parameters
    target = Path(str(params.get("target", "campaign"))).stem
    run_id = params.get("run_id") or f"{target}-{time.strftime('%Y%m%d-%H%M%S')}"
    return f"{run_id} {run_title(params)}"


@dataclass(frozen=True)
class CampaignParams:
    """The campaign flow's parameters, as one value to hand around."""

    target: str
    run_id: str | None
    keyword: str | None
    marker: str | None
    limits: dict[str, float] | None
    scheduler_address: str
    store_url: str | None
    trigger: str
    resume: bool
    matrix: dict[str, str] | None = None
    ref: str | None = None


@flow(name="campaign", flow_run_name=_run_name, log_prints=True)
def campaign(
    target: str,
    run_id: str | None = None,
    keyword: str | None = None,
    marker: str | None = None,
    limits: dict[str, float] | None = None,
    scheduler_address: str = "",
    store_url: str | None = None,
    trigger: str = "cli",
    resume: bool = False,
    matrix: dict[str, str] | None = None,
    ref: str | None = None,
) -> Any:
    """Run a campaign file (or a path of tests) and return its verdict; fail if it failed.

    With `resume` and the `run_id` of an interrupted run, only shards without results run.
    `matrix` sets the campaign matrix's dimensions (the others take their defaults).
    """
    params = CampaignParams(target, run_id, keyword, marker, limits, scheduler_address,
                            store_url, trigger, resume, matrix, ref)  # fmt: skip
    try:
        return _campaign(params)
    except DtfError as exc:
        # Bad input or an unreachable service: one clear line, not a traceback, and the
        # error itself travels in the Failed state for the launcher to re-raise.
        get_run_logger().error("%s: %s", type(exc).__name__, exc)
        return Failed(message=str(exc), data=exc)


def _campaign(params: CampaignParams) -> Any:
    spec, source = resolve_target(Path(params.target), Path.cwd())
    store = ResultStore(params.store_url or database_url())
    try:
        if not params.resume:
            selection = resolve_matrix(spec, params.matrix)
            spec = selection.campaign
            # Outside the store's session: a cold collection may take minutes.
            workspace, discovered = discover_campaign(spec, source, params.keyword, params.marker)
        # One burst of reads and writes from the plan to the first shards: the DuckDB file
        # opens once (tens of milliseconds each time).
        with store.session():
            if params.resume:
                manifest, manifest_path = _resumed(params, store)
                spec = resolve_matrix(spec, manifest.matrix).campaign
            else:
                manifest, manifest_path = record_plan(params, spec, source, store, selection.values,
                                                      workspace, discovered)  # fmt: skip
            to_run = _unfinished(manifest, store)  # less any suite skipped as unplaceable
            store.update_run(manifest.run_id, flow_run_id=str(flow_run.id),
                             flow_run_url=flow_run.ui_url, status="running")  # fmt: skip
            executor = shard_executor(to_run, str(manifest_path), store, spec,
                                      params.scheduler_address)  # fmt: skip
        _run_suites(to_run, executor, store, spec)
        return _finish(store, manifest, executor, spec, params.target)
    finally:
        store.close()


def record_plan(
    params: CampaignParams,
    spec: Campaign,
    source: Path,
    store: ResultStore,
    matrix: dict[str, str],
    workspace: WorkspaceSpec,
    discovered: dict[str, Discovered],
    *,
    stored_as: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> tuple[Manifest, Path]:
    """Plan the discovered tests, check placement, write the manifest and start the run in
    the store (as campaign `stored_as`, default the spec's name; `extra` parameters too)."""
    run_id = params.run_id or new_run_id(spec.name)
    fleet = {w.name: w.resources for w in fleet_now(params.scheduler_address)}
    with store.session():  # a burst of reads and writes: the DuckDB file opens once
        manifest = _plan(spec, discovered, store, run_id, params.limits, matrix, source, fleet)
        manifest = manifest.model_copy(update={"workspace": workspace})
        unplaced = _check_placement(manifest, spec, fleet)
        path = write_manifest(manifest, dtf_home() / "runs" / run_id / "manifest.json")
        recorded = {"target": params.target, "keyword": params.keyword, "marker": params.marker,
                    "limits": params.limits or {}, "matrix": matrix,
                    **workspace_parameters(workspace), **(extra or {})}  # fmt: skip
        where = str(source) if isinstance(spec.source, str) else spec.source.git
        store.start_run(run_id, stored_as or spec.name, source=where, parameters=recorded,
                        trigger=params.trigger, planned_tests=manifest.planned_tests(),
                        ref=workspace.sha or params.ref, matrix=matrix)  # fmt: skip
        get_run_logger().info("run %s: %d tests in %d shards", run_id, manifest.planned_tests(),
                              len(manifest.shards))  # fmt: skip
        _record_collect_errors(store, run_id, discovered)
        for suite, reason in unplaced.items():
            get_run_logger().warning("suite %s %s", suite, reason)
            _record_skipped(store, manifest, suite, reason)
        return manifest, path


def _resumed(params: CampaignParams, store: ResultStore) -> tuple[Manifest, Path]:
    if not params.run_id or store.run(params.run_id) is None:
        raise DtfError(f"cannot resume: no run '{params.run_id}' in {store.location}")
    path = dtf_home() / "runs" / params.run_id / "manifest.json"
    if not path.is_file():
        raise DtfError(f"cannot resume run {params.run_id}: its plan {path} is missing")
    return read_manifest(path), path


def _unfinished(manifest: Manifest, store: ResultStore) -> Manifest:
    """The manifest narrowed to shards some of whose tests have no stored result."""
    done = store.tested_ids(manifest.run_id)
    todo = tuple(s for s in manifest.shards if not set(s.nodeids) <= done)
    get_run_logger().info("%s: %d of %d shards to run", manifest.run_id, len(todo),
                          len(manifest.shards))  # fmt: skip
    return manifest.model_copy(update={"shards": todo})


def _plan(
    spec: Campaign,
    discovered: Mapping[str, Discovered],
    store: ResultStore,
    run_id: str,
    limits: Mapping[str, float] | None,
    matrix: dict[str, str],
    source: Path,
    fleet: Mapping[str, Mapping[str, float]],
) -> Manifest:
    hardware = suite_hardware(spec)
    collected = {name: d.nodeids for name, d in discovered.items()}
    history = {name: store.duration_history(ids, hardware[name], spec.name)
               for name, ids in collected.items()}  # fmt: skip
    pytest_suites = [s.name for s in spec.suites if s.kind == "pytest"]
    rootdirs = {str(discovered[s].rootdir) for s in pytest_suites} or {str(source)}
    return plan_campaign(
        spec, collected, history=history, run_id=run_id, rootdir=sorted(rootdirs)[0],
        python=sys.executable, limits=limits, matrix=matrix, source=str(source), fleet=fleet,
    )  # fmt: skip


def _check_placement(
    manifest: Manifest, spec: Campaign, fleet: Mapping[str, Mapping[str, float]]
) -> dict[str, str]:
    """Fail on suites no worker can run; return the reason for each one the spec skips."""
    # A suite whose own hardware is missing still runs if a declared fallback fits (degraded).
    problems = [
        p for p in unplaceable(manifest.shards, fleet)
        if not any(fits(f, w) for f in spec.suite(p.suite).fallbacks for w in fleet.values())
    ]  # fmt: skip
    errors = [p for p in problems if spec.suite(p.suite).if_unplaceable == "error"]
    if errors:
        raise PlacementError("; ".join(p.message(fleet) for p in errors))
    return {p.suite: f"skipped: {p.message(fleet)}" for p in problems}


def _record_collect_errors(
    store: ResultStore, run_id: str, discovered: Mapping[str, Discovered]
) -> None:
    for suite, found in discovered.items():
        if not found.collect_errors:
            continue
        results = [
            CaseResult(nodeid or "<session>", "error", message=f"collection error: {msg}")
            for nodeid, msg in found.collect_errors.items()
        ]
        outcome = ShardOutcome(shard_id=f"{suite}-collect", results=results)
        record = ShardRecord(run_id, f"{suite}-collect", suite, 0, {}, len(results), 0.0)
        store.write_shard(record, outcome, status="collect_error")


def _run_suites(
    manifest: Manifest, executor: ShardExecutor, store: ResultStore, spec: Campaign
) -> None:
    """Start each suite once its own dependencies have finished; skip the dependents of a
    suite that failed its gate."""
    starts = SuiteStarts(manifest.levels, manifest.depends_on())
    skipped: set[str] = set()
    executor.submit(starts.ready())
    while finished := executor.wait_suites():
        for suite in finished:
            starts.finish(suite)
        # Each finished suite's gate (any failure, or a pass rate) decides whether its
        # dependents run; a suite nothing depends on has no gate to read.
        judged = [s for s in finished if starts.has_dependents(s)]
        if judged:
            with store.session():
                gates = _gates(store, manifest.run_id, spec, judged)
                for skip in skips_after(spec.suites, gates, skipped):
                    skipped.add(skip.suite)
                    _record_skipped(store, manifest, skip.suite, skip.reason)
            starts.drop(skipped)
        ready = starts.ready()
        if ready:
            executor.submit(ready)


def _gates(store: ResultStore, run_id: str, spec: Campaign, suites: list[str]) -> list[GateResult]:
    counts: dict[str, dict[str, int]] = {s: {} for s in suites}
    for row in store.outcome_counts(run_id):
        if row["suite"] in counts:
            tally = counts[row["suite"]]
            tally[row["outcome"]] = tally.get(row["outcome"], 0) + int(row["n"])
    return [judge_gate(s, spec.suite(s).gate, counts[s]) for s in suites]


def _record(manifest: Manifest, shard: Shard) -> ShardRecord:
    return ShardRecord(manifest.run_id, shard.shard_id, shard.suite, 0, dict(shard.needs),
                       len(shard.nodeids), shard.estimated_seconds)  # fmt: skip


def _record_skipped(store: ResultStore, manifest: Manifest, suite: str, reason: str) -> None:
    for shard in manifest.shards_of(suite):
        outcome = ShardOutcome(shard.shard_id, [CaseResult(n, "skipped", message=reason)
                                                for n in shard.nodeids])  # fmt: skip
        store.write_shard(_record(manifest, shard), outcome, status="skipped")


def _finish(
    store: ResultStore, manifest: Manifest, executor: ShardExecutor, spec: Campaign, target: str
) -> Any:
    with store.session():  # the verdict, report and summary read the store a dozen times
        executor.save_circuits()
        verdict = _decide(store, manifest, executor.lost, spec, target)
        report = write_report(store, manifest.run_id, dtf_home() / "runs" / manifest.run_id /
                              "report.html")  # fmt: skip
        create_markdown_artifact(
            key="campaign-summary",
            markdown=summary_markdown(store, manifest.run_id, verdict, report_link=report.as_uri()),
            description=f"dtf campaign {manifest.run_id}: {verdict.status}",
        )
        failures = store.failures(manifest.run_id)
    if failures:
        create_markdown_artifact(
            key="campaign-failures",
            markdown=failures_markdown(failures),
            description=f"failing tests of {manifest.run_id}",
        )
    if spec.publishers:
        publish_run(manifest.run_id, store.url, target)  # reads the verdict just stored
    if not verdict.passed:
        # A returned Failed state fails the flow run (and `deployment run --watch`) without a
        # traceback: a red campaign is a verdict, not a crash.
        return Failed(message=f"campaign {manifest.run_id} failed: " + "; ".join(verdict.reasons))
    return {"run_id": manifest.run_id, "verdict": verdict.status}


def _decide(
    store: ResultStore, manifest: Manifest, lost: list[str], spec: Campaign, target: str
) -> Verdict:
    """The run's verdict (tests, lost shards, quarantines, expectations), stored."""
    planned = {n for s in manifest.shards for n in s.nodeids}
    quarantined = excused(store.failures(manifest.run_id), quarantines(store, spec.name),
                          time.time())  # fmt: skip
    for row in quarantined:
        get_run_logger().warning("quarantined, not counted: %s %s", row["outcome"],
                                 row["test_id"])  # fmt: skip
    verdict = decide_verdict(
        store.outcome_counts(manifest.run_id),
        planned_tests=len(planned),
        tests_with_results=len(planned & store.tested_ids(manifest.run_id)),
        infra_failed_shards=lost,
        excused=len(quarantined),
    )
    if spec.expectations is not None:
        gate = validate_run(manifest.run_id, store.url, target)
        failed = tuple(f"expectation failed: {reason}" for reason in gate["failed"])
        if failed:
            verdict = Verdict("failed", (*verdict.reasons, *failed))
    store.update_run(manifest.run_id, status="completed", verdict=verdict.status,
                     finished_at=time.time())  # fmt: skip
    return verdict
