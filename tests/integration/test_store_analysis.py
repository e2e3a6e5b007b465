"""Analysis on both backends, on generated histories with known answers."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from dtf.analysis.baseline import baseline_diff
from dtf.analysis.flaky import flaky_tests
from dtf.analysis.history import history_of, resolve_test_id
from dtf.analysis.performance import load_series, regressions
from dtf.analysis.runs import get_run
from dtf.analysis.summary import campaign_summary
from dtf.errors import StoreError
from dtf.execution.outcomes import CaseResult, Metric, Outcome, ShardOutcome
from dtf.store.results import ResultStore, ShardRecord
from dtf.store.synthetic import record_run


@pytest.fixture
def store(store_url: str) -> Iterator[ResultStore]:
    store = ResultStore(store_url)
    yield store
    store.close()


def _cases(outcomes: dict[str, Outcome], duration: float = 0.1) -> list[CaseResult]:
    return [CaseResult(t, o, duration, message=f"{t} {o}") for t, o in outcomes.items()]


def test_summary_counts_rates_slowest_and_orchestration_share(store: ResultStore) -> None:
    store.start_run("r1", "nightly", source="s", parameters={}, started_at=1000.0)
    cpu = [
        CaseResult("a::1", "passed", 3.0),
        CaseResult("a::2", "failed", 1.0, message="x"),
        CaseResult("a::3", "skipped", 0.0),
        CaseResult("a::4", "xfailed", 0.5),
    ]
    gpu = [CaseResult("g::1", "passed", 2.5), CaseResult("g::2", "passed", 1.0)]
    store.write_shard(
        ShardRecord("r1", "s-cpu", "unit", 0, {}, 4, 5.0),
        ShardOutcome("s-cpu", cpu, wall_seconds=6.0, worker="w0", hardware="cpu"),
    )
    store.write_shard(
        ShardRecord("r1", "s-gpu", "gpu", 0, {}, 2, 4.0),
        ShardOutcome("s-gpu", gpu, wall_seconds=4.0, worker="w1", hardware="cuda"),
    )
    store.update_run("r1", status="completed", verdict="failed", finished_at=1012.0)
    s = campaign_summary(store, "r1")
    assert s.tests == 6 and s.failing == 1 and s.shards == 2
    assert s.by_outcome == {"passed": 3, "failed": 1, "skipped": 1, "xfailed": 1}
    assert s.pass_rate == pytest.approx(4 / 5)  # skipped does not count, xfailed passes
    assert {(h["hardware"], h["tests"], h["failing"]) for h in s.by_hardware} == {
        ("cpu", 4, 1),
        ("cuda", 2, 0),
    }
    assert [h["pass_rate"] for h in s.by_hardware] == [pytest.approx(2 / 3), 1.0]
    assert [t["test_id"] for t in s.slowest[:3]] == ["a::1", "g::1", "a::2"]
    assert s.wall_seconds == pytest.approx(12.0)
    assert (s.shard_seconds, s.test_seconds) == (pytest.approx(10.0), pytest.approx(8.0))
    assert s.orchestration_share == pytest.approx(0.2)


def test_baseline_is_the_previous_completed_run_of_the_same_matrix(store: ResultStore) -> None:
    record_run(
        store,
        "base",
        _cases({"a": "passed", "b": "failed", "c": "failed", "d": "passed", "f": "passed"}),
        started_at=100.0,
    )
    # Neither of these may serve as the baseline: one is still running, one is another cell.
    record_run(store, "unfinished", _cases({"a": "failed"}), started_at=200.0, status="running")
    store.start_run(
        "other-cell", "demo", source="s", parameters={}, started_at=250.0, matrix={"python": "3.12"}
    )
    store.update_run("other-cell", status="completed")
    record_run(
        store,
        "now",
        _cases({"a": "failed", "b": "passed", "c": "error", "e": "failed", "f": "passed"}),
        started_at=300.0,
    )
    diff = baseline_diff(store, "now")
    assert diff.baseline_id == "base"
    ids = {
        k: [r["test_id"] for r in getattr(diff, k)]
        for k in ("new_failures", "fixed", "still_failing", "new_tests", "removed_tests")
    }
    assert ids == {
        "new_failures": ["a", "e"],
        "fixed": ["b"],
        "still_failing": ["c"],
        "new_tests": ["e"],
        "removed_tests": ["d"],
    }
    assert diff.unchanged == 1  # f
    assert diff.new_failures[0]["message"] == "a failed"
    assert baseline_diff(store, "base").baseline_id is None
    named = baseline_diff(store, "now", baseline="unfinished")
    assert named.baseline_id == "unfinished" and [r["test_id"] for r in named.still_failing] == [
        "a"
    ]


def test_a_rerun_that_passed_decides_the_latest_outcome(store: ResultStore) -> None:
    record_run(store, "r0", _cases({"x": "passed"}), started_at=1.0)
    record_run(store, "r1", _cases({"x": "failed"}), started_at=2.0, reruns=_cases({"x": "passed"}))
    diff = baseline_diff(store, "r1")
    assert diff.new_failures == [] and diff.unchanged == 1


def test_the_planted_flaky_test_is_ranked_first(store: ResultStore) -> None:
    rng = random.Random(4)
    for i in range(24):
        outcomes: dict[str, Outcome] = {
            "t::flaky": "failed" if rng.random() < 0.4 else "passed",
            "t::broken_at_12": "failed" if i >= 12 else "passed",
            "t::always_red": "failed",
            "t::green": "passed",
            "t::sometimes_rerun": "failed" if i % 8 == 3 else "passed",
        }
        reruns = _cases({"t::sometimes_rerun": "passed"}) if i % 8 == 3 else []
        record_run(store, f"r{i:02d}", _cases(outcomes), started_at=float(i), reruns=reruns)
    ranked = flaky_tests(store, window=24)
    assert [t.test_id for t in ranked] == ["t::flaky", "t::sometimes_rerun"]
    flaky, rerun = ranked
    assert flaky.runs == 24 and flaky.flips >= 6 and flaky.flip_rate == flaky.flips / 23
    assert flaky.passed_on_rerun == 0 and flaky.pass_on_rerun_rate is None
    assert (rerun.reruns, rerun.passed_on_rerun, rerun.pass_on_rerun_rate) == (3, 3, 1.0)
    assert rerun.flips == 0 and rerun.failures == 0
    # A window that ends before the first rerun does not list the rerun test.
    early = [t.test_id for t in flaky_tests(store, run_id="r02", window=24)]
    assert "t::sometimes_rerun" not in early
    assert [t.test_id for t in flaky_tests(store, run_id="r03", window=2)] == ["t::sometimes_rerun"]


def test_a_planted_regression_is_found_at_the_right_run_per_hardware(store: ResultStore) -> None:
    rng = random.Random(7)
    for i in range(30):
        run = f"r{i:02d}"
        store.start_run(run, "bench", source="s", parameters={}, started_at=float(i))
        for hardware in ("cpu", "cuda"):
            regress = hardware == "cuda" and i >= 20  # the planted regression
            latency = rng.gauss(10.0, 0.3) * (1.25 if regress else 1.0)
            slow = rng.gauss(2.0, 0.05) * (1.4 if hardware == "cpu" and i >= 18 else 1.0)
            cases = [
                CaseResult(
                    "bench::latency",
                    "passed",
                    rng.gauss(1.0, 0.05),
                    metrics=(
                        Metric("latency", latency, "ms"),
                        Metric("throughput", rng.gauss(500, 25), "it/s"),
                    ),
                ),
                CaseResult("bench::slow", "passed", slow),
                CaseResult("bench::tiny", "passed", rng.uniform(0.0001, 0.003)),
            ]
            outcome = ShardOutcome(
                f"s-{hardware}", cases, worker=f"w-{hardware}", hardware=hardware, wall_seconds=5.0
            )
            record = ShardRecord(run, f"s-{hardware}", f"bench-{hardware}", 0, {}, 3, 5.0)
            store.write_shard(record, outcome)
        store.update_run(run, status="completed", verdict="passed")
    report = regressions(store, "r29", window=30)
    assert report.window[0] == "r00" and report.window[-1] == "r29"
    assert report.series_checked == 2 * 2 + 2 * 3  # 2 metrics and 3 durations, per hardware
    found = {(c.kind, c.test_id, c.name, c.hardware): c for c in report.changes}
    assert set(found) == {
        ("metric", "bench::latency", "latency", "cuda"),
        ("duration", "bench::slow", "duration", "cpu"),
    }
    latency = found[("metric", "bench::latency", "latency", "cuda")]
    assert (latency.run_id, latency.direction, latency.regression) == ("r20", "up", None)
    assert latency.relative == pytest.approx(0.25, abs=0.05) and latency.confidence >= 0.99
    slow = found[("duration", "bench::slow", "duration", "cpu")]
    assert (slow.run_id, slow.regression) == ("r18", True)
    # Before the regression the same series are quiet.
    assert regressions(store, "r17", window=30).changes == []


def test_the_report_screen_leaves_out_flat_and_short_duration_series(store: ResultStore) -> None:
    rng = random.Random(3)
    for i in range(8):
        cases = [CaseResult("t::moving", "passed", 1.0 + 0.02 * i),
                 CaseResult("t::flat", "passed", rng.uniform(0.001, 0.009)),
                 CaseResult("t::young", "passed", 2.0 + i)]  # fmt: skip
        if i < 3:
            cases.pop()  # "young" has 5 passing runs: too short a series
        record_run(store, f"r{i}", cases, started_at=float(i))
    window = [f"r{i}" for i in range(8)]
    every = load_series(store, window, metrics_too=False)
    screened = load_series(store, window, metrics_too=False, flat_durations=False)
    assert [s.test_id for s in every] == ["t::flat", "t::moving"]
    assert [s.test_id for s in screened] == ["t::moving"]
    assert screened[0] == every[1]  # the same series, point for point


def test_history_and_run_lookup(store: ResultStore) -> None:
    for i, outcome in enumerate(["passed", "failed", "passed"]):
        record_run(
            store, f"nightly-{i}", _cases({"pkg/t.py::test_one": outcome}), started_at=float(i)
        )
    assert resolve_test_id(store, "test_one") == "pkg/t.py::test_one"
    rows = history_of(store, "pkg/t.py::test_one", limit=2)
    assert [(r["run_id"], r["outcome"]) for r in rows] == [
        ("nightly-2", "passed"),
        ("nightly-1", "failed"),
    ]
    assert get_run(store, "ly-1")["run_id"] == "nightly-1"
    with pytest.raises(StoreError, match="did you mean"):
        get_run(store, "nightly")
    with pytest.raises(StoreError, match="no test matching"):
        resolve_test_id(store, "nope")
