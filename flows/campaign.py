"""The campaign flow: discover, plan, run shards on Dask by hardware, store, decide."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dask
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run
from prefect.states import Failed

from dtf.cluster.fleet import live_workers
from dtf.config import database_url, dtf_home
from dtf.discovery import Discovered
from dtf.errors import DtfError, PlacementError
from dtf.execution.outcomes import CaseResult, ShardOutcome
from dtf.execution.planned import write_manifest
from dtf.planning.campaign import plan_campaign, suite_hardware
from dtf.planning.dag import dependents_of
from dtf.planning.manifest import Manifest
from dtf.planning.placement import unplaceable
from dtf.planning.shards import Shard
from dtf.reporting import summary_markdown
from dtf.runs import new_run_id
from dtf.spec.models import Campaign
from dtf.spec.resolve import resolve_target
from dtf.store.results import ResultStore, ShardRecord
from dtf.verdict import decide_verdict
from tasks.shards import discover_suite, run_shard_task


def _run_name() -> str:
    params = flow_run.parameters
    target = Path(str(params.get("target", "campaign"))).stem
    return str(params.get("run_id") or f"{target}-{time.strftime('%Y%m%d-%H%M%S')}")


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
) -> Any:
    """Run a campaign file (or a path of tests) and return its verdict; fail if it failed."""
    try:
        return _campaign(target, run_id, keyword, marker, limits, scheduler_address, store_url,
                         trigger)  # fmt: skip
    except DtfError as exc:
        # Bad input or an unreachable service: one clear line, not a traceback, and the
        # error itself travels in the Failed state for the launcher to re-raise.
        get_run_logger().error("%s: %s", type(exc).__name__, exc)
        return Failed(message=str(exc), data=exc)


def _campaign(
    target: str,
    run_id: str | None,
    keyword: str | None,
    marker: str | None,
    limits: dict[str, float] | None,
    scheduler_address: str,
    store_url: str | None,
    trigger: str,
) -> Any:
    logger = get_run_logger()
    spec, source = resolve_target(Path(target), Path.cwd())
    run_id = run_id or new_run_id(spec.name)
    store = ResultStore(store_url or database_url())
    discovered = _discover(spec, source, keyword, marker)
    manifest = _plan(spec, discovered, store, run_id, limits)
    _check_placement(manifest, scheduler_address)
    manifest_path = write_manifest(manifest, dtf_home() / "runs" / run_id / "manifest.json")
    params = {"target": target, "keyword": keyword, "marker": marker, "limits": limits or {}}
    store.start_run(run_id, spec.name, source=str(source), parameters=params, trigger=trigger,
                    planned_tests=manifest.planned_tests())  # fmt: skip
    store.update_run(run_id, flow_run_id=str(flow_run.id), flow_run_url=flow_run.ui_url)
    logger.info("run %s: %d tests in %d shards", run_id, manifest.planned_tests(),
                len(manifest.shards))  # fmt: skip
    _record_collect_errors(store, run_id, discovered)
    try:
        lost = _run_levels(manifest, str(manifest_path), store, spec)
        return _finish(store, manifest, lost)
    finally:
        store.close()


def _discover(
    spec: Campaign, source: Path, keyword: str | None, marker: str | None
) -> dict[str, Discovered]:
    futures = {
        s.name: discover_suite.submit(
            s.name, str(source), s.select.narrowed(keyword, marker).pytest_args()
        )
        for s in spec.suites
    }
    return {name: future.result() for name, future in futures.items()}


def _plan(
    spec: Campaign,
    discovered: Mapping[str, Discovered],
    store: ResultStore,
    run_id: str,
    limits: Mapping[str, float] | None,
) -> Manifest:
    hardware = suite_hardware(spec)
    collected = {name: d.nodeids for name, d in discovered.items()}
    history = {name: store.duration_history(ids, hardware[name]) for name, ids in collected.items()}
    rootdirs = {str(d.rootdir) for d in discovered.values()}
    return plan_campaign(
        spec, collected, history=history, run_id=run_id, rootdir=sorted(rootdirs)[0],
        python=sys.executable, limits=limits,
    )  # fmt: skip


def _check_placement(manifest: Manifest, address: str) -> None:
    workers = live_workers(address)
    fleet = {w.name: w.resources for w in workers}
    problems = unplaceable(manifest.shards, fleet)
    if problems:
        raise PlacementError("; ".join(p.message(fleet) for p in problems))


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


def _run_levels(
    manifest: Manifest, manifest_path: str, store: ResultStore, spec: Campaign
) -> list[str]:
    """Run each level's shards; skip suites whose dependencies failed. Returns lost shards."""
    failed_suites: set[str] = set()
    skipped: set[str] = set()
    lost: list[str] = []
    for level in manifest.levels:
        runnable = [s for s in level if s not in skipped]
        futures = _submit(manifest, manifest_path, runnable)
        for future in as_completed(list(futures)):
            shard = futures[future]
            outcome = _outcome_or_none(future)
            if outcome is None:
                lost.append(shard.shard_id)
                failed_suites.add(shard.suite)
                store.write_shard(_record(manifest, shard), _lost(shard), status="infra_failed")
                continue
            store.write_shard(_record(manifest, shard), outcome)
            if any(r.outcome in {"failed", "error", "timeout", "crashed"} for r in outcome.results):
                failed_suites.add(shard.suite)
        for suite in sorted(failed_suites):
            for dependent in dependents_of(spec.suites, suite):
                if dependent not in skipped:
                    skipped.add(dependent)
                    _record_skipped(store, manifest, dependent, suite)
    return lost


def _submit(
    manifest: Manifest, manifest_path: str, suites: list[str]
) -> dict[PrefectFuture[ShardOutcome], Shard]:
    futures: dict[PrefectFuture[ShardOutcome], Shard] = {}
    shards = [s for s in manifest.shards if s.suite in suites]
    # Higher priority first, then longest first, so the long poles start early.
    for shard in sorted(shards, key=lambda s: (-s.priority, -s.estimated_seconds, s.shard_id)):
        with dask.annotate(resources=dict(shard.needs), priority=shard.priority):
            futures[run_shard_task.submit(manifest_path, shard.shard_id)] = shard
    return futures


def _outcome_or_none(future: PrefectFuture[ShardOutcome]) -> ShardOutcome | None:
    try:
        return future.result()
    except Exception as exc:  # an infrastructure fault: the shard's tests have no results
        get_run_logger().error("shard lost to an infrastructure fault: %s", exc)
        return None


def _record(manifest: Manifest, shard: Shard) -> ShardRecord:
    return ShardRecord(manifest.run_id, shard.shard_id, shard.suite, 0, dict(shard.needs),
                       len(shard.nodeids), shard.estimated_seconds)  # fmt: skip


def _lost(shard: Shard) -> ShardOutcome:
    message = "not run: the shard was lost to an infrastructure fault (see the flow run's logs)"
    return ShardOutcome(shard.shard_id, [CaseResult(n, "error", message=message)
                                         for n in shard.nodeids])  # fmt: skip


def _record_skipped(store: ResultStore, manifest: Manifest, suite: str, because: str) -> None:
    reason = f"skipped: suite '{suite}' depends on suite '{because}', which failed"
    for shard in manifest.shards_of(suite):
        outcome = ShardOutcome(shard.shard_id, [CaseResult(n, "skipped", message=reason)
                                                for n in shard.nodeids])  # fmt: skip
        store.write_shard(_record(manifest, shard), outcome, status="skipped")


def _finish(store: ResultStore, manifest: Manifest, lost: list[str]) -> Any:
    planned = {n for s in manifest.shards for n in s.nodeids}
    verdict = decide_verdict(
        store.outcome_counts(manifest.run_id),
        planned_tests=len(planned),
        tests_with_results=len(planned & store.tested_ids(manifest.run_id)),
        infra_failed_shards=lost,
    )
    store.update_run(manifest.run_id, status="completed", verdict=verdict.status,
                     finished_at=time.time())  # fmt: skip
    create_markdown_artifact(
        key="campaign-summary",
        markdown=summary_markdown(store, manifest.run_id, verdict),
        description=f"dtf campaign {manifest.run_id}: {verdict.status}",
    )
    if not verdict.passed:
        # A returned Failed state fails the flow run (and `deployment run --watch`) without a
        # traceback: a red campaign is a verdict, not a crash.
        return Failed(message=f"campaign {manifest.run_id} failed: " + "; ".join(verdict.reasons))
    return {"run_id": manifest.run_id, "verdict": verdict.status}
