"""The store benchmarks run end to end at a tiny size and report sane figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import POSTGRES_ENV, REPO

BENCHMARKS = REPO / "benchmarks"


def _run(script: str, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _need(backend: str) -> None:
    if backend == "postgres" and not os.environ.get(POSTGRES_ENV):
        pytest.skip(f"{POSTGRES_ENV} is not set (.ci/run sets it to the local PostgreSQL)")


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_store_ingest_runs_tiny(backend: str) -> None:
    _need(backend)
    report = _run(
        "store_ingest.py",
        "--rows",
        "3000",
        "--runs",
        "3",
        "--shard-rows",
        "1500",
        "--shard-size",
        "500",
        "--backend",
        backend,
    )
    figures = report[backend]
    assert isinstance(figures, dict)
    assert figures["rows"] == 3000 and figures["shard_rows"] == 1500
    assert 0 < figures["bulk_seconds"] < 60 and 0 < figures["shards_seconds"] < 60


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_store_queries_runs_tiny(backend: str) -> None:
    _need(backend)
    report = _run(
        "store_queries.py", "--rows", "6000", "--runs", "12", "--repeat", "1", "--backend", backend
    )
    figures = report[backend]
    assert isinstance(figures, dict)
    assert (figures["rows"], figures["runs"], figures["tests_per_run"]) == (6000, 12, 500)
    check = figures["check"]
    # The generated history is deterministic: the summary and the diff see it the same way.
    assert check["tests"] == 500 and check["baseline"] == "run-00010"
    assert 0 < check["failing"] < 50 and check["new_failures"] > 0 and check["fixed"] > 0
    queries = (
        "summary",
        "baseline_diff",
        "flaky_30_runs",
        "history_50_runs",
        "regressions_30_runs",
    )
    for query in queries:
        assert 0 < figures[query]["best"] < 30, query
