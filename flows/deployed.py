"""Deployment entry flow: check out a ref, ensure a Dask cluster, run the campaign as a subflow."""

from __future__ import annotations

import hashlib
import inspect
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, tags
from prefect.runtime import flow_run
from prefect.settings import PREFECT_API_URL
from prefect.states import Failed
from prefect_dask import DaskTaskRunner

from dtf.cluster.local import ensure_cluster
from dtf.cluster.profiles import default_profiles
from dtf.config import dtf_home
from dtf.errors import DtfError, InfrastructureError
from dtf.fingerprint import code_fingerprint
from dtf.runs import new_run_id
from dtf.server import server_env
from dtf.spec.resolve import resolve_target
from flows.campaign import campaign

# A worker fleet that is not the local one: `dtf worker` machines joined to this scheduler.
SCHEDULER_ENV = "DTF_SCHEDULER_ADDRESS"
GIT_TIMEOUT_SECONDS = 600


def run_title(params: Mapping[str, Any], name: str | None = None) -> str:
    """What ran, for the Prefect UI's run list: campaign, matrix, selection, ref, PR, trigger."""
    target = Path(str(params.get("target") or "campaign.yaml"))
    label = name or (target.parent.name if target.stem == "campaign" else target.stem) or "campaign"
    matrix = params.get("matrix") or {}
    parts = [label + (f"[{','.join(f'{k}={v}' for k, v in matrix.items())}]" if matrix else "")]
    parts += [f"-k '{params['keyword']}'"] if params.get("keyword") else []
    parts += [f"-m '{params['marker']}'"] if params.get("marker") else []
    parts += [f"@{str(params['ref'])[:12]}"] if params.get("ref") else []
    parts += [f"PR#{params['pr']}"] if params.get("pr") else []
    return " ".join(parts) + f" ({params.get('trigger') or 'on-demand'})"


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
    try:
        path = _campaign_path(target, ref, repository)
        spec, _ = resolve_target(path, Path.cwd())  # bad input fails before a cluster starts
        address = scheduler_address or os.environ.get(SCHEDULER_ENV) or _local_cluster(workers)
        subflow = campaign.with_options(
            task_runner=DaskTaskRunner(address=address),
            flow_run_name=run_title(params, spec.name),
        )
        kwargs = _campaign_kwargs(str(path), spec.name, address, params)
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
    """Arguments for the campaign flow; refuses values that this campaign flow cannot take."""
    kwargs: dict[str, Any] = {
        "target": path, "run_id": new_run_id(name), "keyword": params.get("keyword"),
        "marker": params.get("marker"), "limits": params.get("limits"),
        "scheduler_address": address, "store_url": params.get("store_url"),
        "trigger": params.get("trigger") or "on-demand",
    }  # fmt: skip
    accepted = inspect.signature(campaign.fn).parameters
    for optional in ("ref", "matrix"):
        if params.get(optional) and optional in accepted:
            kwargs[optional] = params[optional]
    if params.get("matrix") and "matrix" not in accepted:
        # Running the whole campaign when a matrix cell was asked for would be a wrong answer.
        raise DtfError("matrix values were given, but this dtf's campaign flow takes none yet")
    return kwargs


def _local_cluster(workers: int) -> str:
    """Start (or reuse) the local Dask cluster under the dtf home; return its address."""
    home = dtf_home()
    api_url = str(PREFECT_API_URL.value() or "")
    if not api_url:
        raise DtfError("PREFECT_API_URL is not set: Dask workers would each start a server")
    # The same environment as `dtf run` builds, so both reuse one cluster.
    env = {"PREFECT_API_URL": api_url, **server_env(home),
           "DTF_CODE_FINGERPRINT": code_fingerprint()}  # fmt: skip
    return ensure_cluster(home, default_profiles(workers), env).address


def _campaign_path(target: str, ref: str | None, repository: str | None) -> Path:
    if not ref:
        return Path(target)
    checkout = checkout_ref(_repository(repository), ref, dtf_home() / "checkouts")
    get_run_logger().info("checked out %s at %s in %s", ref, checkout.name, checkout)
    return checkout / target


def _repository(given: str | None) -> str:
    """The repository to check a ref out of: given, else cwd's `origin`, else cwd's own."""
    if given:
        return given
    cwd = Path.cwd()
    origin = _git(cwd, "config", "--get", "remote.origin.url", check=False)
    return origin or _git(cwd, "rev-parse", "--show-toplevel")


def checkout_ref(repository: str, ref: str, cache: Path) -> Path:
    """A clean, detached worktree of `ref` (branch, tag, SHA or PR ref) under `cache`.

    One bare clone per repository is fetched into; each commit gets its own worktree, named
    by its SHA, so concurrent campaigns of different commits never share a tree.
    """
    key = hashlib.sha256(repository.encode()).hexdigest()[:12]
    mirror = cache / f"repo-{key}.git"
    if not mirror.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        _git(cache, "clone", "--bare", "--quiet", repository, str(mirror))
    _git(mirror, "fetch", "--quiet", "--force", repository, ref)
    sha = _git(mirror, "rev-parse", "--verify", "FETCH_HEAD^{commit}")
    tree = cache / sha[:12]
    if not (tree / ".git").exists():
        _git(mirror, "worktree", "prune")
        _git(mirror, "worktree", "add", "--detach", "--force", str(tree), sha)
    return tree


def _git(cwd: Path, *args: str, check: bool = True) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True,
            timeout=GIT_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfrastructureError(f"git {args[0]} failed: {exc}", "checkout") from exc
    if check and done.returncode != 0:
        raise InfrastructureError(
            f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}", "checkout"
        )
    return done.stdout.strip()
