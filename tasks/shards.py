"""Prefect tasks that discover a suite's tests and run one shard on a Dask worker."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from dtf.browser.spec import BrowserSuiteSpec
from dtf.cluster.identity import current_worker
from dtf.discovery import Discovered
from dtf.environments.spec import WorkspaceSpec
from dtf.environments.workspace import discover_in_workspace, pages_in_workspace
from dtf.errors import EnvironmentBuildError, InfrastructureError, SourceError
from dtf.execution.outcomes import ShardOutcome
from dtf.execution.planned import execute_planned_shard, read_manifest
from dtf.recovery.book import select_tests


@task(name="discover", task_run_name="discover-{suite}", cache_policy=NO_CACHE)
def discover_suite(
    suite: str, workspace: dict[str, Any], pytest_args: list[str], reuse: bool = True
) -> Discovered:
    """Collect a suite's test ids with pytest, in the run's workspace on this worker
    (or, with `reuse`, take them from an identical earlier collection there)."""
    spec = WorkspaceSpec.model_validate(workspace)
    return discover_in_workspace(spec, pytest_args, worker=current_worker().name, reuse=reuse)


@task(name="list-pages", task_run_name="list-pages-{suite}", cache_policy=NO_CACHE)
def list_suite_pages(suite: str, workspace: dict[str, Any], browser: dict[str, Any]) -> list[str]:
    """A browser suite's page ids, listed in the run's checkout on this worker."""
    return pages_in_workspace(WorkspaceSpec.model_validate(workspace),
                              BrowserSuiteSpec.model_validate(browser),
                              worker=current_worker().name)  # fmt: skip


@task(name="shard", task_run_name="{shard_id}", cache_policy=NO_CACHE)
def run_shard_task(
    manifest_path: str,
    shard_id: str,
    only: list[str] | None = None,
    part: tuple[int, int] | None = None,
    needs: dict[str, float] | None = None,
) -> ShardOutcome:
    """Run one planned shard (or a rerun subset / split part of it) on this worker.

    A red test is a result; only infrastructure faults raise, as InfrastructureError naming
    this worker, so the flow's recovery ladder knows where it happened.
    """
    worker = current_worker().name
    try:
        manifest = read_manifest(manifest_path)
        nodeids = select_tests(manifest.shard(shard_id).nodeids, _tuple(only), part)
        return execute_planned_shard(manifest, shard_id, nodeids, needs)
    except (InfrastructureError, SourceError, EnvironmentBuildError):
        # Already classified: it names its fault and worker (browser_lost, checkout), or it
        # is a configuration error (unknown ref, unresolvable requirement) no retry can fix.
        raise
    except Exception as exc:
        raise InfrastructureError(f"shard {shard_id} on {worker}: {type(exc).__name__}: {exc}",
                                  error_class="harness", worker=worker) from exc  # fmt: skip


def _tuple(items: list[str] | None) -> tuple[str, ...] | None:
    return tuple(items) if items is not None else None
