"""Runs one shard of a planned campaign on the current worker and labels its results."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from dtf.browser.pages import discover_pages, select_pages, suite_root
from dtf.browser.pool import PoolConfig, pool_size
from dtf.browser.shard import run_browser_shard
from dtf.cluster.identity import WorkerIdentity, current_worker
from dtf.environments.workspace import PreparedWorkspace, prepare_workspace
from dtf.execution.command import run_command_shard
from dtf.execution.outcomes import ShardOutcome
from dtf.execution.runner import ShardRequest, run_shard
from dtf.planning.manifest import Manifest, SuitePlan
from dtf.planning.placement import hardware_class

SCRATCH_ENV = "DTF_SCRATCH"


CPU_ONLY = frozenset({"cpu"})


def read_manifest(path: str | Path) -> Manifest:
    return Manifest.model_validate_json(Path(path).read_text(encoding="utf-8"))


def write_manifest(manifest: Manifest, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(manifest.model_dump_json(indent=1), encoding="utf-8")
    return path


def execute_planned_shard(
    manifest: Manifest,
    shard_id: str,
    nodeids: tuple[str, ...] | None = None,
    needs: dict[str, float] | None = None,
) -> ShardOutcome:
    """Run shard `shard_id` of `manifest` here; every test of it gets exactly one result.

    `nodeids` narrows the shard (a rerun or a split part); `needs` is the hardware actually
    used when it differs from the plan (a fallback).
    """
    shard = manifest.shard(shard_id)
    used = needs if needs is not None else dict(shard.needs)
    suite = manifest.suites[shard.suite]
    worker = current_worker()
    dtf_env = {
        "DTF_RUN_ID": manifest.run_id,
        "DTF_SHARD_ID": shard_id,
        "DTF_WORKER_NAME": worker.name,
        "DTF_WORKER_RESOURCES": worker.resources_text(),
    }
    # DTF_SCRATCH names a worker's scratch volume; a missing one is an infrastructure fault.
    # A shard's pytest may still be exiting when the scratch goes (the runner hands back a
    # shard at its session's end): a file it creates meanwhile must not fail the shard.
    scratch_root = os.environ.get(SCRATCH_ENV) or None
    with (
        tempfile.TemporaryDirectory(prefix=f"dtf-{shard_id}-", dir=scratch_root,
                                    ignore_cleanup_errors=True) as scratch,
        prepare_workspace(manifest.workspace, manifest.rootdir, manifest.python,
                          worker=worker.name) as workspace,
    ):  # fmt: skip
        # The clean room (HOME, caches, temp dir in the scratch; the environment's PATH),
        # then the campaign's and the suite's variables, then secrets, then dtf's own.
        env = {**workspace.shard_env(Path(scratch), suite.env), **dtf_env}
        if suite.browser is not None:
            return _labelled(_run_pages(manifest, suite, shard_id, nodeids or shard.nodeids,
                                        used, worker.name, _suite_dir(manifest, suite, workspace)),
                             worker, used)  # fmt: skip
        if suite.command is not None:
            outcome = run_command_shard(
                shard_id, shard.suite, suite.command, cwd=_suite_dir(manifest, suite, workspace),
                env=env, limits=suite.limits, scratch=Path(scratch),
            )  # fmt: skip
            return _labelled(outcome, worker, used, workspace)
        request = ShardRequest(
            shard_id=shard_id,
            nodeids=nodeids if nodeids is not None else shard.nodeids,
            rootdir=workspace.rootdir,
            limits=suite.limits,
            python=workspace.python,
            env=env,
            scratch=Path(scratch),
            # A device shard's process holds its device until it has exited: the next shard
            # on that device must not start before. A CPU shard's exit may overlap the next.
            wait_for_exit=not set(used) <= CPU_ONLY,
        )
        outcome = run_shard(request)
    return _labelled(outcome, worker, used, workspace)


def _suite_dir(manifest: Manifest, suite: SuitePlan, workspace: PreparedWorkspace) -> Path:
    """Where a command or browser suite runs: the campaign's source directory on this worker.

    With a git source that is this worker's checkout of the pinned commit; the plan's
    `workdir` names the directory on the machine that planned the run.
    """
    if workspace.checkout is not None:
        return workspace.source_root
    return Path(suite.workdir or manifest.rootdir)


def _run_pages(
    manifest: Manifest,
    suite: SuitePlan,
    shard_id: str,
    nodeids: tuple[str, ...],
    used: Mapping[str, float],
    worker: str,
    source: Path,
) -> ShardOutcome:
    """A browser suite's shard: its pages in this worker's pool of headless browsers."""
    assert suite.browser is not None
    pages = select_pages(discover_pages(suite.browser, source), nodeids)
    config = PoolConfig(
        root=suite_root(suite.browser, source), kind=suite.browser.browser,
        size=suite.browser.pool_size or pool_size(used, suite.browser.browser),
        flags=suite.browser.flags, pages_per_browser=suite.browser.pages_per_browser,
        worker=worker,
    )  # fmt: skip
    return run_browser_shard(pages, config, suite.limits, shard_id=shard_id)


def _labelled(
    outcome: ShardOutcome,
    worker: WorkerIdentity,
    used: Mapping[str, float],
    workspace: PreparedWorkspace | None = None,
) -> ShardOutcome:
    """The outcome marked with the worker that ran it, the hardware it used and, when it ran
    in a built environment, what that environment held."""
    built = workspace is not None and workspace.environment is not None
    return dataclasses.replace(
        outcome,
        worker=worker.name,
        hardware=hardware_class(used),
        simulated=worker.simulates_any(used),
        environment=workspace.record() if workspace is not None and built else {},
    )
