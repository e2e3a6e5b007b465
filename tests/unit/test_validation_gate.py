"""The validation gate: Great Expectations pass/fail cases over runs in a real DuckDB store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dtf.execution.outcomes import Metric
from dtf.store.results import ResultStore
from dtf.validation.facts import Plan
from dtf.validation.gate import ValidationOutcome, read_outcome, validate_run
from dtf.validation.spec import DurationLimit, Expectations, MetricRule, PassRate
from tests.fakes.seed import Case, SeededShard, cases, seed_run, write_manifest


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ResultStore]:
    s = ResultStore(f"duckdb:///{tmp_path / 'store.duckdb'}")
    yield s
    s.close()


def _green(run_id: str, store: ResultStore, started: float, **kw: object) -> None:
    shards = [
        SeededShard("unit-0", "unit", cases("tests/test_a.py", 8)),
        SeededShard("gpu-0", "gpu", cases("tests/test_g.py", 2), hardware="cuda"),
    ]
    seed_run(store, run_id, shards, started_at=started, **kw)  # type: ignore[arg-type]


def _keys(outcome: ValidationOutcome) -> set[str]:
    return {f.key for f in outcome.failed}


def test_a_complete_green_run_passes_and_keeps_data_docs(store: ResultStore, tmp_path: Path):
    _green("r1", store, 1.0)
    spec = Expectations(
        pass_rate=(PassRate(at_least=1.0),),
        no_new_failures=True,
        durations=(DurationLimit(max_seconds=5),),
    )
    plan = Plan(
        frozenset(
            {f"tests/test_a.py::test_{i}" for i in range(8)}
            | {f"tests/test_g.py::test_{i}" for i in range(2)}
        ),
        frozenset({"unit-0", "gpu-0"}),
    )

    outcome = validate_run(store, "r1", spec, plan=plan, reports=tmp_path / "rep")

    assert outcome.passed, outcome.reasons()
    assert outcome.checked >= 6
    index = Path(outcome.report or "")
    assert index.name == "index.html" and "dtf.tests" in index.read_text()
    assert read_outcome("r1", tmp_path / "rep") == outcome


def test_incomplete_results_never_pass(store: ResultStore, tmp_path: Path):
    # Planned: 10 tests in three shards; shard gpu-1 never reported and one test is missing.
    _green("r1", store, 1.0)
    write_manifest(
        tmp_path / "home",
        "r1",
        {
            "unit-0": [f"tests/test_a.py::test_{i}" for i in range(9)],
            "gpu-0": ["tests/test_g.py::test_0", "tests/test_g.py::test_1"],
            "gpu-1": ["tests/test_g.py::test_2"],
        },
    )
    from dtf.validation.facts import load_plan

    outcome = validate_run(
        store,
        "r1",
        Expectations(),
        plan=load_plan("r1", tmp_path / "home"),
        reports=tmp_path / "rep",
    )

    assert not outcome.passed
    failed = {f.key: f for f in outcome.failed}
    assert set(failed) == {"complete", "planned_shards_ran"}
    assert set(failed["complete"].offenders) == {
        "tests/test_a.py::test_8",
        "tests/test_g.py::test_2",
    }
    assert failed["planned_shards_ran"].offenders == ("gpu-1",)


def test_without_a_manifest_the_planned_count_still_guards_completeness(
    store: ResultStore, tmp_path: Path
):
    seed_run(store, "r1", [SeededShard("unit-0", "unit", cases("t.py", 3))], planned=5)
    outcome = validate_run(store, "r1", Expectations(), reports=tmp_path)
    assert not outcome.passed
    assert _keys(outcome) == {"complete"}
    assert outcome.failed[0].offenders == ("r1 (missing 2)",)


def test_pass_rate_per_suite_and_hardware(store: ResultStore, tmp_path: Path):
    shards = [
        SeededShard("unit-0", "unit", [*cases("a.py", 9), Case("a.py::bad", "failed")]),
        SeededShard(
            "gpu-0", "gpu", [*cases("g.py", 1), Case("g.py::bad", "error")], hardware="cuda"
        ),
    ]
    seed_run(store, "r1", shards)
    spec = Expectations(
        pass_rate=(PassRate(suite="unit", at_least=0.9), PassRate(hardware="cuda", at_least=0.9))
    )
    outcome = validate_run(store, "r1", spec, reports=tmp_path)
    assert _keys(outcome) == {"pass_rate[1]"}
    assert outcome.failed[0].offenders == ("gpu/cuda (pass rate 0.5)",)


def test_new_failures_are_judged_against_the_previous_completed_run(
    store: ResultStore, tmp_path: Path
):
    old = [Case("a.py::always", "failed"), Case("a.py::broke"), Case("a.py::fine")]
    seed_run(store, "r1", [SeededShard("u", "unit", old)], started_at=1.0)
    # An unfinished run in between is no baseline.
    seed_run(
        store, "r1b", [SeededShard("u", "unit", cases("a.py", 3))], started_at=2.0, completed=False
    )
    new = [Case("a.py::always", "failed"), Case("a.py::broke", "failed"), Case("a.py::fine")]
    seed_run(store, "r2", [SeededShard("u", "unit", new)], started_at=3.0)

    outcome = validate_run(store, "r2", Expectations(no_new_failures=True), reports=tmp_path)

    assert _keys(outcome) == {"no_new_failures"}
    assert outcome.failed[0].offenders == ("a.py::broke",)
    assert "baseline run r1" in outcome.failed[0].description


def test_metric_bounds_baseline_change_and_durations(store: ResultStore, tmp_path: Path):
    def run(run_id: str, started: float, latency: float, seconds: float) -> None:
        case = Case(
            "bench.py::test_lat",
            duration=seconds,
            metrics=(Metric("latency_ms", latency), Metric("tokens_s", 900.0)),
        )
        seed_run(store, run_id, [SeededShard("b", "bench", [case])], started_at=started)

    run("r1", 1.0, 10.0, 1.0)
    run("r2", 2.0, 12.5, 7.0)
    spec = Expectations(
        metrics=(
            MetricRule(name="latency_ms", within_pct_of_baseline=20, direction="increase"),
            MetricRule(name="tokens_s", min=1000),
            MetricRule(name="never_recorded", max=1),
        ),
        durations=(DurationLimit(suite="bench", max_seconds=5),),
    )
    outcome = validate_run(store, "r2", spec, reports=tmp_path)
    failed = {f.key: f.offenders for f in outcome.failed}
    assert failed == {
        "metrics[0].baseline": ("bench.py::test_lat latency_ms [cpu] (change % 25)",),
        "metrics[1]": ("bench.py::test_lat tokens_s [cpu] (value 900)",),
        "metrics[2].recorded": ("r2 (rows 0)",),
        "durations[0]": ("bench.py::test_lat (duration 7)",),
    }
    # A fall in latency is allowed by direction=increase.
    run("r3", 3.0, 5.0, 1.0)
    spec_ok = Expectations(metrics=(spec.metrics[0],))
    assert validate_run(store, "r3", spec_ok, reports=tmp_path).passed


def test_infra_failed_shards_fail_the_gate_unless_allowed(store: ResultStore, tmp_path: Path):
    lost = SeededShard(
        "gpu-0", "gpu", [Case("g.py::t", "error", message="lost")], status="infra_failed"
    )
    seed_run(store, "r1", [SeededShard("u", "unit", cases("a.py", 2)), lost])
    outcome = validate_run(store, "r1", Expectations(), reports=tmp_path)
    assert _keys(outcome) == {"no_infra_failed_shards"}
    assert outcome.failed[0].offenders == ("gpu-0",)
    allowed = validate_run(
        store, "r1", Expectations(no_infra_failed_shards=False), reports=tmp_path
    )
    assert allowed.passed


def test_an_empty_run_is_not_a_pass(store: ResultStore, tmp_path: Path):
    seed_run(store, "r1", [], planned=0)
    outcome = validate_run(store, "r1", Expectations(), reports=tmp_path)
    assert _keys(outcome) == {"has_results"}
    assert "run has results" in outcome.markdown()


def test_dtf_validate_lists_failed_expectations_and_exits_1(
    tmp_path: Path, dtf_home: Path, monkeypatch: pytest.MonkeyPatch
):
    from typer.testing import CliRunner

    from dtf.cli import app

    url = f"duckdb:///{tmp_path / 'cli.duckdb'}"
    store = ResultStore(url)
    seed_run(store, "r1", [SeededShard("u", "unit", [Case("a.py::t", "failed", message="x")])])
    store.close()
    campaign = tmp_path / "c.yaml"
    campaign.write_text("name: nightly\nexpectations:\n  pass_rate:\n    - at_least: 0.5\n")
    monkeypatch.setenv("DTF_DATABASE_URL", url)

    result = CliRunner().invoke(app, ["validate", "r1", "--campaign", str(campaign)])

    assert result.exit_code == 1, result.output
    assert "validation of r1: failed" in result.output
    assert "passes at least 50%: unit/cpu (pass rate 0)" in result.output
    assert (dtf_home / "runs" / "r1" / "data_docs" / "index.html").exists()
