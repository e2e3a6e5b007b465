"""Runs one shard of a planned campaign on the current worker and labels its results."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from dtf.cluster.identity import current_worker
from dtf.execution.outcomes import ShardOutcome
from dtf.execution.runner import ShardRequest, run_shard
from dtf.planning.manifest import Manifest
from dtf.planning.placement import hardware_class


def read_manifest(path: str | Path) -> Manifest:
    return Manifest.model_validate_json(Path(path).read_text(encoding="utf-8"))


def write_manifest(manifest: Manifest, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(manifest.model_dump_json(indent=1), encoding="utf-8")
    return path


def execute_planned_shard(manifest: Manifest, shard_id: str) -> ShardOutcome:
    """Run shard `shard_id` of `manifest` here; every test of it gets exactly one result."""
    shard = manifest.shard(shard_id)
    suite = manifest.suites[shard.suite]
    worker = current_worker()
    env = {
        **suite.env,
        "DTF_RUN_ID": manifest.run_id,
        "DTF_SHARD_ID": shard_id,
        "DTF_WORKER_NAME": worker.name,
        "DTF_WORKER_RESOURCES": worker.resources_text(),
    }
    with tempfile.TemporaryDirectory(prefix=f"dtf-{shard_id}-") as scratch:
        request = ShardRequest(
            shard_id=shard_id,
            nodeids=shard.nodeids,
            rootdir=Path(manifest.rootdir),
            limits=suite.limits,
            python=manifest.python,
            env=env,
            scratch=Path(scratch),
        )
        outcome = run_shard(request)
    return dataclasses.replace(
        outcome,
        worker=worker.name,
        hardware=hardware_class(shard.needs),
        simulated=worker.simulates_any(shard.needs),
    )
