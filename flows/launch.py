"""Runs dtf's flows in this process on a Dask cluster; the `dtf.launchers` entry points."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, nullcontext
from typing import Any

# Prefect imports it when a flow run's parameters are first serialized (0.09 s): importing
# it here puts it in the warm launcher, which loads this module, not in every run.
import fastapi.encoders  # noqa: F401
from prefect import Flow, tags
from prefect.client.schemas.objects import State
from prefect.context import SettingsContext, get_settings_context, refresh_global_settings_context
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import get_current_settings
from prefect_dask import DaskTaskRunner

from dtf.errors import DtfError
from dtf.launching import LaunchRequest, LaunchResult, after_command
from flows.campaign import campaign
from flows.verify_quarantine import TRIGGER, verify_quarantine

# Seconds to deliver a flow's last logs and events once the command is done: a warm child
# does it after its client left, and must not linger when the server has gone.
DELIVERY_TIMEOUT = 30.0


def launch_campaign(request: LaunchRequest) -> LaunchResult:
    """Run one campaign to its end and report its final state; dtf errors are re-raised."""
    state = _run(
        campaign, request, request.trigger,
        target=request.target, run_id=request.run_id, keyword=request.keyword,
        marker=request.marker, limits=dict(request.limits) or None,
        scheduler_address=request.scheduler_address, trigger=request.trigger,
        resume=request.resume, matrix=dict(request.matrix) or None,
    )  # fmt: skip
    if state.is_completed():
        return LaunchResult(run_id=request.run_id, state=state.name, message="")
    return _failed(request, state)


def launch_verify_quarantine(request: LaunchRequest) -> LaunchResult:
    """Verify the campaign's quarantines (`request.runs` times each); the report, as JSON,
    is the result's message."""
    state = _run(
        verify_quarantine, request, TRIGGER,
        target=request.target, runs=request.runs or 5, run_id=request.run_id,
        scheduler_address=request.scheduler_address,
    )  # fmt: skip
    if state.is_completed():
        report = state.result()
        return LaunchResult(run_id=str(report.get("run_id") or ""), state=state.name,
                            message=json.dumps(report))  # fmt: skip
    return _failed(request, state)


def _run(flow: Flow[..., Any], request: LaunchRequest, tagged: str, **params: Any) -> State:
    """Run `flow` on the request's Dask cluster, tagged with the campaign and trigger `tagged`."""
    # The CLI sets PREFECT_API_URL just before launching; a process that imported Prefect
    # earlier (a warm launcher's child) still holds the settings read at import.
    refresh_global_settings_context()
    runner = DaskTaskRunner(address=request.scheduler_address)
    with tags(f"campaign:{request.campaign}", f"trigger:{tagged}"), _heartbeats_if_asked():
        state: State = flow.with_options(task_runner=runner)(**params, return_state=True)
    after_command(_deliver_logs_and_events)
    return state


def _heartbeats_if_asked() -> AbstractContextManager[Any]:
    """No flow run heartbeats unless the user set their frequency (env or Prefect profile).

    Prefect's heartbeat thread sleeps in one-second steps and the engine joins it when the
    flow ends: 0.5 s on average added to every run's wall time. Heartbeats only feed a
    zombie-detection automation, which dtf does not create; whoever sets one up sets the
    frequency too (PREFECT_FLOWS_HEARTBEAT_FREQUENCY), and then gets them.
    """
    settings = get_current_settings()
    if "heartbeat_frequency" in settings.flows.model_fields_set:
        return nullcontext()
    # A copy of the settings just read, not temporary_settings: that builds and validates
    # every setting again (0.04 s a run); None is a valid frequency, so nothing to validate.
    flows = settings.flows.model_copy(update={"heartbeat_frequency": None})
    quiet = settings.model_copy(update={"flows": flows})
    return SettingsContext(profile=get_settings_context().profile, settings=quiet)


def _failed(request: LaunchRequest, state: State) -> LaunchResult:
    error: Any = state.result(raise_on_failure=False)
    if isinstance(error, DtfError):
        raise error
    return LaunchResult(run_id=request.run_id, state=state.name, message=str(state.message))


def _deliver_logs_and_events() -> None:
    """Deliver the flow's last logs and events: the CLI ends its process with os._exit."""
    APILogWorker.drain_all(timeout=DELIVERY_TIMEOUT)
    EventsWorker.drain_all(timeout=DELIVERY_TIMEOUT)
