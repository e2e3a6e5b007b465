"""Deployment entry flow: check out a ref, ensure a Dask cluster, run the campaign as a subflow."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, tags
from prefect.runtime import flow_run
from prefect.settings import PREFECT_API_URL
from prefect.states import Failed
from prefect_dask import DaskTaskRunner

from dtf.cluster.local import ensure_cluster, running_cluster
from dtf.cluster.profiles import default_profiles, local_browsers
from dtf.config import dtf_home
from dtf.errors import DtfError
from dtf.fingerprint import code_fingerprint
from dtf.runs import new_run_id, run_title
from dtf.server import server_env
from dtf.sources.git import repository_of
from dtf.sources.resolve import checkout_ref
from dtf.spec.resolve import resolve_target
from flows.campaign import campaign

# A worker fleet that is not the local one: `dtf worker` machines joined to this scheduler.
SCHEDULER_ENV = "DTF_SCHEDULER_ADDRESS"


def _deployment_run_name() -> str:
    return run_title(flow_run.parameters)


@flow(name="campaign", flow_run_name=_deployment_run_name, log_prints=True)
def campaign_deployment(
    target: str = "campaign.yaml",
    ref: str | None = None,
    repository: str | None = None,
    matrix: dict[str, str] | None = None,
    keyword: str | None = None,
    marker: str | None = None,
    pr: int | None = None,
    trigger: str = "on-demand",
    scheduler_address: str | None = None,
    workers: int = 2,
    limits: dict[str, float] | None = None,
    store_url: str | None = None,
) -> Any:
    """Run a campaign file of the repository (at `ref`, if given) on a Dask cluster.

    The final state is the campaign's verdict, so `prefect deployment run ... --watch` exits
    non-zero when the campaign failed or could not start.

    Args:
        target: The campaign file (or test path), relative to the deployment's working
            directory, or to the checkout of `ref`.
        ref: A branch, tag, commit SHA or PR ref to check out and test; none: the working
            directory as it is.
        repository: Where to fetch `ref` from; default: the working directory's `origin`,
            else its own repository.
        matrix: Matrix dimension values, e.g. {"python": "3.12"}.
        keyword: Only tests matching this pytest -k expression.
        marker: Only tests matching this pytest -m expression.
        pr: The pull request number, for the run's name and tags.
        trigger: What started the run (nightly, on-demand, github-pr...), stored and tagged.
        scheduler_address: A running Dask scheduler (else $DTF_SCHEDULER_ADDRESS); none: start
            or reuse the local cluster under the dtf home.
        workers: The local cluster's size, when it is started here.
        limits: test_timeout / shard_timeout / idle_timeout overrides, in seconds.
        store_url: The results store; default: $DTF_DATABASE_URL, else the dtf home's DuckDB.
    """
    params = dict(flow_run.parameters)
    with ExitStack() as stack:
        try:
            path, commit = _campaign_path(stack, target, ref, repository)
            spec, _ = resolve_target(path, Path.cwd())  # bad input fails before a cluster starts
            address = scheduler_address or os.environ.get(SCHEDULER_ENV) or local_cluster(workers)
            subflow = campaign.with_options(
                task_runner=DaskTaskRunner(address=address),
                flow_run_name=run_title(params, spec.name),
            )
            # The run records the commit tested, not the branch name that pointed at it.
            kwargs = _campaign_kwargs(str(path), spec.name, address, {**params, "ref": commit})
        except DtfError as exc:
            get_run_logger().error("%s: %s", type(exc).__name__, exc)
            return Failed(message=str(exc))
        with tags(*_run_tags(spec.name, params)):
            state = subflow(**kwargs, return_state=True)
    if state.is_completed():
        return state.result()
    # A new Failed state, so the deployment run's message is the campaign's, not "1/1 failed".
    return Failed(message=state.message or f"the campaign flow run ended {state.name}")


def _run_tags(campaign_name: str, params: Mapping[str, Any]) -> list[str]:
    extra = [f"ref:{str(params['ref'])[:12]}"] if params.get("ref") else []
    extra += [f"pr:{params['pr']}"] if params.get("pr") else []
    trigger = params.get("trigger") or "on-demand"
    return [*flow_run.tags, f"campaign:{campaign_name}", f"trigger:{trigger}", *extra]


def _campaign_kwargs(
    path: str, name: str, address: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Arguments for the campaign subflow."""
    return {
        "target": path, "run_id": new_run_id(name), "keyword": params.get("keyword"),
        "marker": params.get("marker"), "limits": params.get("limits"),
        "scheduler_address": address, "store_url": params.get("store_url"),
        "trigger": params.get("trigger") or "on-demand", "ref": params.get("ref") or None,
        "matrix": params.get("matrix") or None,
    }  # fmt: skip


def local_cluster(workers: int) -> str:
    """Start (or reuse) the local Dask cluster under the dtf home; return its address."""
    home = dtf_home()
    api_url = str(PREFECT_API_URL.value() or "")
    if not api_url:
        raise DtfError("PREFECT_API_URL is not set: Dask workers would each start a server")
    # The same environment as `dtf run` builds, so both reuse one cluster.
    env = {"PREFECT_API_URL": api_url, **server_env(home),
           "DTF_CODE_FINGERPRINT": code_fingerprint()}  # fmt: skip
    cluster = running_cluster(home, env) or ensure_cluster(
        home, default_profiles(workers, local_browsers()), env
    )
    return cluster.address


def _campaign_path(
    stack: ExitStack, target: str, ref: str | None, repository: str | None
) -> tuple[Path, str]:
    """The campaign file to run, and the commit it was checked out at ("" for none).

    The ref is pinned and checked out through the workers' source cache (dtf.sources); the
    checkout stays leased, safe from eviction, until `stack` closes after the campaign.
    """
    if not ref:
        return Path(target), ""
    url = repository or repository_of(Path.cwd())
    tree = stack.enter_context(checkout_ref(url, ref))
    get_run_logger().info("checked out %s at %s in %s", ref, tree.sha, tree.path)
    return tree.path / target, tree.sha
