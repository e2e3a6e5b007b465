"""A baseline run and a later run with new failures, a fix, a flaky test and a lost shard."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dtf.execution.outcomes import Metric
from dtf.store.results import ResultStore
from tests.fakes.seed import Case, SeededShard, cases, seed_run

CAMPAIGN = "nightly"
SHA = "0123456789abcdef0123456789abcdef01234567"
NEW_CLUSTER = ("tests/test_a.py::test_new_1", "tests/test_a.py::test_new_2")
FIXED = "tests/test_a.py::test_fixed"
FLAKY = "tests/test_a.py::test_flaky"
OOM = "tests/test_b.py::test_oom"


def seed_baseline(store: ResultStore, run_id: str = "r1") -> None:
    shard = [
        *cases("tests/test_ok.py", 3),
        Case(FIXED, "failed", message="AssertionError: no"),
        Case("tests/test_a.py::test_old", "failed", message="ValueError: always broken"),
        Case(NEW_CLUSTER[0]),
        Case(NEW_CLUSTER[1]),
        Case(FLAKY),
        Case(OOM),
    ]
    seed_run(
        store,
        run_id,
        [SeededShard("unit-0", "unit", shard)],
        campaign=CAMPAIGN,
        started_at=1_000.0,
        verdict="failed",
    )


def seed_current(store: ResultStore, run_id: str = "r2", campaign: str = CAMPAIGN) -> None:
    """Two new failures sharing a message, one new crash, a fix, a flaky test, a lost shard."""
    first = [
        *cases("tests/test_ok.py", 3),
        Case(FIXED),
        Case("tests/test_a.py::test_old", "failed", message="ValueError: always broken"),
        Case(NEW_CLUSTER[0], "failed", message="E   AssertionError: assert 3 == 4"),
        Case(NEW_CLUSTER[1], "failed", message="E   AssertionError: assert 5 == 4"),
        Case(FLAKY, "failed", message="flaky once"),
        Case(OOM, "error", message="RuntimeError: CUDA out of memory at 0x7f00beef"),
        Case("tests/test_bench.py::test_speed", metrics=(Metric("latency_ms", 12.0),)),
    ]
    shards = [
        SeededShard("unit-0", "unit", first),
        SeededShard("unit-0", "unit", [Case(FLAKY)], attempt=1),
        SeededShard(
            "gpu-0",
            "gpu",
            [Case("tests/test_g.py::test_big", "error", message="worker lost")],
            hardware="cuda",
            status="infra_failed",
        ),
    ]
    seed_run(
        store, run_id, shards, campaign=campaign, started_at=2_000.0, verdict="failed", ref=SHA
    )
    store.update_run(run_id, flow_run_url="http://prefect.local/runs/flow-run/42")


@contextmanager
def scenario_store(path: Path) -> Iterator[ResultStore]:
    """A DuckDB store at `path` holding the baseline run and the current one."""
    store = ResultStore(f"duckdb:///{path}")
    seed_baseline(store)
    seed_current(store)
    try:
        yield store
    finally:
        store.close()
