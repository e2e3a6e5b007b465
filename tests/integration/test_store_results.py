"""ResultStore on both backends: idempotent writes, attempt rewrites, metrics, reads, bulk."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from dtf.errors import StoreError
from dtf.execution.outcomes import CaseResult, Metric, ShardOutcome
from dtf.store.results import ResultStore, ShardRecord
from dtf.store.schema import metrics, results, shards


@pytest.fixture
def store(store_url: str) -> Iterator[ResultStore]:
    store = ResultStore(store_url)
    store.start_run("r1", "nightly", source="src", parameters={"k": 1})
    yield store
    store.close()


def _outcome(*cases: CaseResult, shard: str = "s0") -> ShardOutcome:
    return ShardOutcome(
        shard, list(cases), launches=1, wall_seconds=2.0, worker="w1", hardware="cuda"
    )


def _record(shard: str = "s0", attempt: int = 0, tests: int = 3) -> ShardRecord:
    return ShardRecord("r1", shard, "unit", attempt, {"cuda": 1}, tests, 1.5)


def _count(store: ResultStore, table: object) -> int:
    with store.transaction() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_writing_the_same_attempt_twice_stores_it_once(store: ResultStore) -> None:
    outcome = _outcome(
        CaseResult("t.py::a", "passed", 0.5, metrics=(Metric("loss", 0.25, "nat"),)),
        CaseResult("t.py::b", "failed", 0.1, message="assert 1 == 2"),
    )
    store.write_shard(_record(), outcome)
    store.write_shard(_record(), outcome)
    assert (_count(store, results), _count(store, metrics), _count(store, shards)) == (2, 1, 1)
    rows = store.results_of("r1")
    assert [(r["test_id"], r["outcome"], r["worker"], r["hardware"]) for r in rows] == [
        ("t.py::a", "passed", "w1", "cuda"),
        ("t.py::b", "failed", "w1", "cuda"),
    ]
    assert rows[1]["message"] == "assert 1 == 2"
    [metric] = store.metrics_of("r1")
    assert (metric["name"], metric["value"], metric["unit"], metric["hardware"]) == (
        "loss",
        0.25,
        "nat",
        "cuda",
    )


def test_rewriting_an_attempt_replaces_its_rows(store: ResultStore) -> None:
    store.write_shard(
        _record(),
        _outcome(
            CaseResult("t.py::a", "failed", 1.0, metrics=(Metric("m", 1.0),)),
            CaseResult("t.py::b", "passed", 1.0),
            CaseResult("t.py::c", "passed", 1.0, metrics=(Metric("m", 3.0),)),
        ),
    )
    # The shard ran again (same attempt, e.g. a resumed flow) and this time lost test c.
    store.write_shard(
        _record(tests=2),
        _outcome(
            CaseResult("t.py::a", "passed", 2.0, metrics=(Metric("m", 2.0),)),
            CaseResult("t.py::b", "passed", 2.0),
        ),
    )
    rows = {r["test_id"]: r for r in store.results_of("r1")}
    assert sorted(rows) == ["t.py::a", "t.py::b"]
    assert rows["t.py::a"]["outcome"] == "passed" and rows["t.py::a"]["duration"] == 2.0
    assert [(m["test_id"], m["value"]) for m in store.metrics_of("r1")] == [("t.py::a", 2.0)]
    [shard] = store.shards_of("r1")
    assert shard["tests"] == 2


def test_a_test_moved_to_another_shard_is_not_stored_twice(store: ResultStore) -> None:
    store.write_shard(_record("s0"), _outcome(CaseResult("t.py::a", "crashed"), shard="s0"))
    store.write_shard(_record("s1"), _outcome(CaseResult("t.py::a", "passed"), shard="s1"))
    [row] = store.results_of("r1")
    assert (row["shard_id"], row["outcome"]) == ("s1", "passed")


def test_two_suites_may_run_the_same_test_in_one_run(store: ResultStore) -> None:
    case = CaseResult("ops.py::test_matmul", "passed", 1.0, metrics=(Metric("gflops", 1.0),))
    for suite, hardware in (("ops-cpu", "cpu"), ("ops-cuda", "cuda")):
        outcome = ShardOutcome(suite, [case], worker="w", hardware=hardware)
        store.write_shard(ShardRecord("r1", suite, suite, 0, {}, 1, 1.0), outcome)
    rows = store.results_of("r1")
    assert sorted((r["suite"], r["hardware"]) for r in rows) == [
        ("ops-cpu", "cpu"),
        ("ops-cuda", "cuda"),
    ]
    assert sorted(m["suite"] for m in store.metrics_of("r1")) == ["ops-cpu", "ops-cuda"]
    assert {(r["suite"], r["n"]) for r in store.outcome_counts("r1")} == {
        ("ops-cpu", 1),
        ("ops-cuda", 1),
    }


def test_attempts_are_kept_and_the_latest_decides(store: ResultStore) -> None:
    store.write_shard(
        _record(attempt=0),
        _outcome(CaseResult("t.py::a", "failed", message="first"), CaseResult("t.py::b", "failed")),
    )
    store.write_shard(
        _record("s0-retry", attempt=1), _outcome(CaseResult("t.py::a", "passed"), shard="s0-retry")
    )
    assert len(store.results_of("r1")) == 3
    counts = {(r["outcome"], r["n"]) for r in store.outcome_counts("r1")}
    assert counts == {("passed", 1), ("failed", 1)}
    assert [f["test_id"] for f in store.failures("r1")] == ["t.py::b"]
    [run] = store.recent_runs()
    assert (run["run_id"], run["tests"], run["failing"]) == ("r1", 2, 1)
    assert store.tested_ids("r1") == {"t.py::a", "t.py::b"}


def test_runs_keep_ref_matrix_and_restarts(store: ResultStore) -> None:
    store.start_run(
        "r9",
        "nightly",
        source="git",
        parameters={},
        ref="abc123",
        matrix={"python": "3.11", "build": "release"},
        started_at=100.0,
    )
    store.start_run("r9", "nightly", source="git", parameters={})  # a resumed run
    store.update_run("r9", status="completed", verdict="passed", finished_at=160.0)
    run = store.run("r9")
    assert run is not None
    assert (run["ref"], run["matrix"]) == ("abc123", '{"build": "release", "python": "3.11"}')
    assert (run["started_at"], run["finished_at"], run["verdict"]) == (100.0, 160.0, "passed")
    assert store.run("nope") is None


def test_duration_history_is_the_median_of_recent_passes_on_that_hardware_in_that_campaign(
    store: ResultStore,
) -> None:
    for i in range(14):
        run = f"r{i:02d}"
        store.start_run(run, "c", source="s", parameters={}, started_at=float(i))
        cases = [
            CaseResult("t.py::a", "passed", float(i), finished_at=float(i)),
            CaseResult("t.py::b", "failed" if i % 2 else "passed", 100.0 + i, finished_at=float(i)),
        ]
        outcome = ShardOutcome("s", cases, worker="w", hardware="cpu")
        store.write_shard(ShardRecord(run, "s", "u", 0, {}, 2, 1.0), outcome)
    # Another project's test of the same id, later and far longer: not this campaign's test.
    store.start_run("other", "other-project", source="elsewhere", parameters={})
    other = ShardOutcome("s", [CaseResult("t.py::a", "passed", 500.0, finished_at=99.0)],
                         worker="w", hardware="cpu")  # fmt: skip
    store.write_shard(ShardRecord("other", "s", "u", 0, {}, 1, 1.0), other)
    history = store.duration_history(["t.py::a", "t.py::b", "t.py::unknown"], "cpu", "c")
    # a: the last ten passes are durations 4..13, median 8.5; b: passes at 0,2,..,12.
    assert history == {"t.py::a": 8.5, "t.py::b": 106.0}
    assert store.duration_history(["t.py::a"], "cpu", "other-project") == {"t.py::a": 500.0}
    assert store.duration_history(["t.py::a"], "cuda", "c") == {}
    assert store.duration_history([], "cpu", "c") == {}


def test_bulk_insert_appends_columns_with_defaults_and_nulls(store: ResultStore) -> None:
    n = 2_500
    count = store.bulk_insert(
        "results",
        {
            "run_id": ["r1"] * n,
            "test_id": [f"t.py::x{i}" for i in range(n)],
            "attempt": [0] * n,
            "suite": ["bulk"] * n,
            "shard_id": ["b0"] * n,
            "outcome": ["passed" if i % 10 else "failed" for i in range(n)],
            "duration": [i / 1000 for i in range(n)],
            "started_at": [None if i % 2 else float(i) for i in range(n)],
        },
    )
    assert count == n
    rows = store.results_of("r1")
    assert len(rows) == n
    by_id = {r["test_id"]: r for r in rows}
    assert by_id["t.py::x3"]["started_at"] is None
    assert by_id["t.py::x4"]["started_at"] == 4.0
    assert by_id["t.py::x7"]["worker"] == "" and by_id["t.py::x7"]["simulated"] is False
    assert sum(1 for r in rows if r["outcome"] == "failed") == 250
    with pytest.raises(StoreError):  # the same keys again: the whole batch is refused
        store.bulk_insert(
            "results",
            {
                "run_id": ["r1"],
                "test_id": ["t.py::x0"],
                "attempt": [0],
                "suite": ["bulk"],
                "shard_id": ["b"],
                "outcome": ["passed"],
            },
        )
    assert len(store.results_of("r1")) == n


def test_bulk_insert_rejects_unknown_or_ragged_columns(store: ResultStore) -> None:
    with pytest.raises(ValueError, match="no column"):
        store.bulk_insert("results", {"nope": [1]})
    with pytest.raises(ValueError, match="differ in length"):
        store.bulk_insert("results", {"run_id": ["a", "b"], "test_id": ["x"]})
    assert store.bulk_insert("results", {}) == 0


def test_a_bad_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="results store"):
        ResultStore("postgresql+psycopg://nobody@127.0.0.1:1/none", lock_timeout=0)


def test_results_of_a_fallback_attempt_are_marked_degraded(store: ResultStore) -> None:
    store.write_shard(_record("s0"), _outcome(CaseResult("t.py::a", "passed")))
    store.write_shard(
        _record("s1", tests=2),
        _outcome(CaseResult("t.py::b", "passed"), CaseResult("t.py::c", "failed"), shard="s1"),
        status="degraded",
    )
    rows = {r["test_id"]: r["degraded"] for r in store.results_of("r1")}
    assert rows == {"t.py::a": False, "t.py::b": True, "t.py::c": True}
    assert store.degraded_suites("r1") == {"unit": 2}
