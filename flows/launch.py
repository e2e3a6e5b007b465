"""Runs the campaign flow in this process on a Dask cluster; the `dtf.launchers` entry point."""

from __future__ import annotations

from typing import Any

from prefect import tags
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect_dask import DaskTaskRunner

from dtf.errors import DtfError
from dtf.launching import LaunchRequest, LaunchResult
from flows.campaign import campaign


def launch_campaign(request: LaunchRequest) -> LaunchResult:
    """Run one campaign to its end and report its final state; dtf errors are re-raised."""
    runner = DaskTaskRunner(address=request.scheduler_address)
    flow = campaign.with_options(task_runner=runner)
    with tags(f"campaign:{request.campaign}", f"trigger:{request.trigger}"):
        state = flow(
            target=request.target,
            run_id=request.run_id,
            keyword=request.keyword,
            marker=request.marker,
            limits=dict(request.limits) or None,
            scheduler_address=request.scheduler_address,
            trigger=request.trigger,
            resume=request.resume,
            matrix=dict(request.matrix) or None,
            return_state=True,
        )
    _drain_prefect_workers()
    if state.is_completed():
        return LaunchResult(run_id=request.run_id, state=state.name, message="")
    error: Any = state.result(raise_on_failure=False)
    if isinstance(error, DtfError):
        raise error
    return LaunchResult(run_id=request.run_id, state=state.name, message=str(state.message))


def _drain_prefect_workers() -> None:
    """Deliver the flow's last logs and events now: the CLI may end the process right after."""
    APILogWorker.drain_all()
    EventsWorker.drain_all()
