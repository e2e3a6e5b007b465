"""The verify-quarantine flow: re-run quarantined tests N times, release those always green."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Failed
from prefect_dask import DaskTaskRunner

from dtf.config import database_url
from dtf.discovery import Discovered
from dtf.errors import DtfError
from dtf.planning.campaign import suite_hardware
from dtf.quarantine import QuarantineEntry, Verification, quarantined_tests, verify_entries
from dtf.runs import new_run_id, run_title
from dtf.spec.matrix import resolve_matrix
from dtf.spec.models import Campaign
from dtf.spec.resolve import resolve_target
from dtf.store.quarantines import active_quarantines, release_quarantine
from dtf.store.results import ResultStore
from flows.campaign import CampaignParams, record_plan
from flows.deployed import SCHEDULER_ENV, local_cluster
from flows.discovery import discover_campaign
from flows.shard_runs import shard_executor

TRIGGER = "verify-quarantine"


def verify_campaign_name(campaign: str) -> str:
    """The campaign a verify run is stored under: never a baseline of the campaign's own
    runs, and its repeated rounds never read as reruns of the campaign's tests."""
    return f"{campaign}.{TRIGGER}"


def _run_name() -> str:
    params = flow_run.parameters
    return run_title({**params, "trigger": TRIGGER}) + f" x{params.get('runs', 5)}"


@flow(name="verify-quarantine", flow_run_name=_run_name, log_prints=True)
def verify_quarantine(
    target: str,
    runs: int = 5,
    run_id: str | None = None,
    scheduler_address: str = "",
    store_url: str | None = None,
) -> Any:
    """Re-run the tests of a campaign's active quarantines `runs` times on the cluster;
    release each quarantine whose tests passed every time, keep the others.

    Returns {"run_id", "released": {pattern: why}, "kept": {pattern: why}}; the run's
    results are stored like any run's (trigger verify-quarantine).
    """
    try:
        if runs < 1:
            raise DtfError(f"runs must be at least 1, not {runs}")
        return _verify(target, runs, run_id, scheduler_address, store_url)
    except DtfError as exc:
        get_run_logger().error("%s: %s", type(exc).__name__, exc)
        return Failed(message=str(exc), data=exc)


def _verify(
    target: str, runs: int, run_id: str | None, address: str, store_url: str | None
) -> dict[str, Any]:
    spec, source = resolve_target(Path(target), Path.cwd())
    selection = resolve_matrix(spec, None)
    store = ResultStore(store_url or database_url())
    try:
        entries = active_quarantines(store, spec.name)
        if not entries:
            get_run_logger().info("campaign %s has no active quarantine", spec.name)
            return _report(None, [])
        name = verify_campaign_name(spec.name)
        params = CampaignParams(target, run_id or new_run_id(name), None, None, None, address,
                                store.url, TRIGGER, False)  # fmt: skip
        return _run_rounds(params, selection.campaign, source, store, selection.values,
                           entries, runs)  # fmt: skip
    finally:
        store.close()


def _run_rounds(
    params: CampaignParams,
    spec: Campaign,
    source: Path,
    store: ResultStore,
    matrix: dict[str, str],
    entries: list[QuarantineEntry],
    runs: int,
) -> dict[str, Any]:
    """Collect the quarantined tests, run them `runs` times, release the always green."""
    workspace, discovered = discover_campaign(spec, source, params.keyword, params.marker)
    hardware = suite_hardware(spec)
    chosen = quarantined_tests({s: d.nodeids for s, d in discovered.items()}, hardware, entries)
    if not any(chosen.values()):
        return _report(None, verify_entries(entries, chosen, hardware, [], runs))
    narrowed = {s: Discovered(d.rootdir, chosen[s]) for s, d in discovered.items()}
    extra = {"runs": runs, "quarantines": [e.pattern for e in entries]}
    manifest, path = record_plan(params, spec, source, store, matrix, workspace, narrowed,
                                 stored_as=verify_campaign_name(spec.name),
                                 extra=extra)  # fmt: skip
    store.update_run(manifest.run_id, flow_run_id=str(flow_run.id), flow_run_url=flow_run.ui_url)
    executor = shard_executor(manifest, str(path), store, spec, params.scheduler_address,
                              reruns=False)  # fmt: skip
    for level in manifest.levels:  # no gates: every quarantined test is verified
        executor.run(list(level), repeat=runs)
    executor.save_circuits()
    results = store.results_of(manifest.run_id)
    checked = verify_entries(entries, chosen, hardware, results, runs)
    _release(store, spec.name, checked, manifest.run_id)
    report = _report(manifest.run_id, checked)
    _finish(store, manifest.run_id, report)
    return report


def _release(store: ResultStore, campaign: str, checked: list[Verification], run_id: str) -> None:
    logger = get_run_logger()
    for verdict in checked:
        if verdict.release:
            release_quarantine(store, campaign, verdict.pattern, f"{verdict.why} ({run_id})")
            logger.info("released %s: %s", verdict.pattern, verdict.why)
        else:
            logger.warning("kept in quarantine %s: %s", verdict.pattern, verdict.why)


def _report(run_id: str | None, checked: list[Verification]) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "released": {v.pattern: v.why for v in checked if v.release},
        "kept": {v.pattern: v.why for v in checked if not v.release},
    }


def _finish(store: ResultStore, run_id: str, report: dict[str, Any]) -> None:
    """Complete the run; its verdict says whether every verified test passed every time."""
    row = store.run(run_id) or {}
    parameters = {**json.loads(row.get("parameters") or "{}"), "verify": report}
    store.update_run(run_id, status="completed", finished_at=time.time(),
                     verdict="failed" if report["kept"] else "passed",
                     parameters=json.dumps(parameters, sort_keys=True))  # fmt: skip


@flow(name="verify-quarantine", flow_run_name=_run_name, log_prints=True)
def verify_quarantine_deployment(
    target: str = "campaign.yaml",
    runs: int = 5,
    scheduler_address: str | None = None,
    workers: int = 2,
    store_url: str | None = None,
) -> Any:
    """Verify a campaign's quarantines on a Dask cluster (the deployment's entry point).

    Args:
        target: The campaign file, relative to the deployment's working directory.
        runs: How many times each quarantined test must pass to be released.
        scheduler_address: A running Dask scheduler (else $DTF_SCHEDULER_ADDRESS); none:
            start or reuse the local cluster under the dtf home.
        workers: The local cluster's size, when it is started here.
        store_url: The results store; default: $DTF_DATABASE_URL, else the dtf home's DuckDB.
    """
    try:
        address = scheduler_address or os.environ.get(SCHEDULER_ENV) or local_cluster(workers)
    except DtfError as exc:
        get_run_logger().error("%s: %s", type(exc).__name__, exc)
        return Failed(message=str(exc))
    subflow = verify_quarantine.with_options(task_runner=DaskTaskRunner(address=address))
    state = subflow(target=target, runs=runs, scheduler_address=address, store_url=store_url,
                    return_state=True)  # fmt: skip
    if state.is_completed():
        return state.result()
    return Failed(message=state.message or f"the verify-quarantine run ended {state.name}")
