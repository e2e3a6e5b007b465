"""Prefect tasks that discover a suite's tests and run one shard on a Dask worker."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from dtf.discovery import Discovered, discover
from dtf.execution.outcomes import ShardOutcome
from dtf.execution.planned import execute_planned_shard, read_manifest


@task(name="discover", task_run_name="discover-{suite}", cache_policy=NO_CACHE)
def discover_suite(suite: str, source: str, pytest_args: list[str]) -> Discovered:
    """Collect a suite's test ids with pytest, in the campaign's source directory."""
    return discover(Path(source), pytest_args)


@task(name="shard", task_run_name="{shard_id}", cache_policy=NO_CACHE)
def run_shard_task(manifest_path: str, shard_id: str) -> ShardOutcome:
    """Run one planned shard; a red test is a result, only infrastructure faults raise."""
    return execute_planned_shard(read_manifest(manifest_path), shard_id)
