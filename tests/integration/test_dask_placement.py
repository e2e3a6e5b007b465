"""Planned shards run on a real Dask cluster by resource, and land in a real DuckDB store."""

from __future__ import annotations

import sys
from pathlib import Path

from distributed import Client

from dtf.cluster.local import ClusterInfo
from dtf.discovery import discover
from dtf.execution.outcomes import ShardOutcome
from dtf.execution.planned import execute_planned_shard
from dtf.planning.campaign import plan_campaign
from dtf.planning.manifest import Manifest
from dtf.spec.resolve import resolve_target
from dtf.store.results import ResultStore, ShardRecord

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart" / "campaign.yaml"


def _quickstart_manifest(run_id: str) -> Manifest:
    spec, source = resolve_target(QUICKSTART, REPO)
    found = {s.name: discover(source, s.select.pytest_args()) for s in spec.suites}
    return plan_campaign(
        spec,
        {name: d.nodeids for name, d in found.items()},
        history={},
        run_id=run_id,
        rootdir=str(found["cpu"].rootdir),
        python=sys.executable,
    )


def _run_on_cluster(manifest: Manifest, address: str) -> list[ShardOutcome]:
    with Client(address, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        futures = [
            client.submit(
                execute_planned_shard,
                manifest,
                shard.shard_id,
                resources=dict(shard.needs),
                key=f"{manifest.run_id}-{shard.shard_id}",
            )
            for shard in manifest.shards
        ]
        return list(client.gather(futures))


def test_cuda_shards_run_only_on_the_cuda_worker_and_every_result_is_stored(
    dask_cluster: ClusterInfo, tmp_path: Path
) -> None:
    manifest = _quickstart_manifest("placement-1")
    assert {s.suite for s in manifest.shards} == {"cpu", "cuda"}
    assert len(manifest.shards) >= 3, "the quickstart is cut into several shards"
    outcomes = _run_on_cluster(manifest, dask_cluster.address)

    store = ResultStore(f"duckdb:///{tmp_path / 'dtf.duckdb'}")
    store.start_run("placement-1", "quickstart", source="", parameters={})
    for shard, outcome in zip(manifest.shards, outcomes, strict=True):
        record = ShardRecord("placement-1", shard.shard_id, shard.suite, 0, dict(shard.needs),
                             len(shard.nodeids), shard.estimated_seconds)  # fmt: skip
        store.write_shard(record, outcome)
    rows = store.results_of("placement-1")

    planned = sorted(n for s in manifest.shards for n in s.nodeids)
    assert sorted(r["test_id"] for r in rows) == planned  # every test exactly once
    cuda_rows = [r for r in rows if r["suite"] == "cuda"]
    assert cuda_rows and {r["worker"] for r in cuda_rows} == {"dtf-worker-0"}
    assert all(r["hardware"] == "cuda" and r["simulated"] for r in cuda_rows)
    assert all(r["outcome"] == "passed" for r in cuda_rows), "cuda tests check their placement"
    cpu_rows = [r for r in rows if r["suite"] == "cpu"]
    assert all(r["hardware"] == "cpu" and not r["simulated"] for r in cpu_rows)
    failed = [r for r in rows if r["outcome"] == "failed"]
    assert [r["test_id"] for r in failed] == [
        "tests/test_tokenizer.py::test_tokenize_keeps_punctuation_separate"
    ]
    assert "AssertionError" in failed[0]["message"]
    assert [m["name"] for m in store.metrics_of("placement-1")] == ["train_steps_per_second"]
    store.close()
