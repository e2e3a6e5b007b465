"""Suite gates (any failure, or a pass rate) and the skips they cause downstream."""

from __future__ import annotations

import pytest

from dtf.spec.models import Gate, Suite
from dtf.verdict import GateResult, judge_gate, skips_after


@pytest.mark.parametrize(
    ("gate", "outcomes", "passed", "reason"),
    [
        (Gate(), {"passed": 10}, True, ""),
        (Gate(), {"passed": 9, "failed": 1}, False, "1 of 10 tests failed"),
        (Gate(), {"passed": 9, "timeout": 1, "crashed": 1}, False, "2 of 11 tests failed"),
        (Gate(), {"passed": 3, "skipped": 5, "xfailed": 1, "flaky": 1}, True, ""),
        (Gate(), {}, True, ""),
        (Gate(min_pass_rate=0.95), {"passed": 95, "failed": 5}, True, ""),
        (
            Gate(min_pass_rate=0.95),
            {"passed": 94, "failed": 4, "error": 2},
            False,
            "pass rate 94.0% is below its gate of 95.0% (6 of 100 tests failed)",
        ),
        # Skipped tests are not counted: 19 of 20 counted pass.
        (Gate(min_pass_rate=0.95), {"passed": 19, "failed": 1, "skipped": 80}, True, ""),
        (Gate(min_pass_rate=1.0), {"passed": 9, "failed": 1}, False, "pass rate 90.0%"),
        (Gate(min_pass_rate=0.0), {"failed": 10}, True, ""),
        (Gate(min_pass_rate=0.5), {"skipped": 3}, True, ""),
    ],
)
def test_gate_table(gate: Gate, outcomes: dict[str, int], passed: bool, reason: str) -> None:
    result = judge_gate("s", gate, outcomes)
    assert result.passed is passed
    assert result.reason.startswith(reason)
    assert bool(result.reason) is not passed


def _suites(**deps: tuple[str, ...]) -> list[Suite]:
    return [Suite(name=name, depends_on=wanted) for name, wanted in deps.items()]


SUITES = _suites(
    build=(), unit=("build",), gpu=("build",), e2e=("unit", "gpu"), lint=(), docs=("lint",)
)


def test_failed_gate_skips_all_dependents_and_no_independent_suite() -> None:
    failed = [GateResult("build", False, "1 of 3 tests failed"), GateResult("lint", True)]
    skips = skips_after(SUITES, failed)
    assert [s.suite for s in skips] == ["unit", "gpu", "e2e"]
    assert all(s.failed == "build" for s in skips)


def test_skip_reasons_name_the_failed_suite_the_path_and_the_gate() -> None:
    skips = {
        s.suite: s for s in skips_after(SUITES, [GateResult("build", False, "2 of 4 tests failed")])
    }
    assert skips["unit"].path == ("unit", "build")
    assert skips["unit"].reason == (
        "skipped: suite 'unit' depends on suite 'build', which failed its gate: 2 of 4 tests failed"
    )
    assert skips["e2e"].path == ("e2e", "unit", "build")
    assert "(through unit)" in skips["e2e"].reason


def test_passed_gates_skip_nothing() -> None:
    assert skips_after(SUITES, [GateResult("build", True), GateResult("lint", True)]) == []


def test_already_skipped_suites_are_not_skipped_twice() -> None:
    first = skips_after(SUITES, [GateResult("unit", False, "x")])
    assert [s.suite for s in first] == ["e2e"]
    later = skips_after(SUITES, [GateResult("gpu", False, "y")], already={"e2e"})
    assert later == []


def test_two_failures_give_each_dependent_one_skip_deterministically() -> None:
    failed = [GateResult("gpu", False, "g"), GateResult("unit", False, "u")]
    skips = skips_after(SUITES, failed)
    assert [(s.suite, s.failed) for s in skips] == [("e2e", "gpu")]
    assert skips == skips_after(SUITES, list(reversed(failed)))


def test_the_flow_judges_gates_from_the_latest_stored_attempts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dtf.execution.outcomes import CaseResult, ShardOutcome
    from dtf.spec.models import Campaign
    from dtf.store.results import ResultStore, ShardRecord
    from flows.campaign import _gates

    spec = Campaign(
        name="c",
        suites=(
            Suite(name="strict"),
            Suite(name="lenient", gate=Gate(min_pass_rate=0.5)),
            Suite(name="later", depends_on=("strict",)),
        ),
    )
    store = ResultStore(f"duckdb:///{tmp_path / 's.duckdb'}")
    try:
        for suite, attempt, outcomes in [
            ("strict", 0, ["passed", "failed"]),
            ("strict", 1, ["passed", "passed"]),  # the rerun passed: only it counts
            ("lenient", 0, ["passed", "failed", "passed"]),
        ]:
            results = [CaseResult(f"{suite}::t{i}", o) for i, o in enumerate(outcomes)]  # type: ignore[arg-type]
            record = ShardRecord("r", f"{suite}-000", suite, attempt, {"cpu": 1}, len(results), 1)
            store.write_shard(record, ShardOutcome(f"{suite}-000", results, hardware="cpu"))
        gates = {g.suite: g for g in _gates(store, "r", spec, ["strict", "lenient"])}
        assert gates["strict"].passed and gates["lenient"].passed
        results = [CaseResult("lenient::t0", "failed"), CaseResult("lenient::t2", "error")]
        store.write_shard(
            ShardRecord("r", "lenient-000", "lenient", 1, {}, 2, 1),
            ShardOutcome("lenient-000", results, hardware="cpu"),
        )
        lenient = _gates(store, "r", spec, ["lenient"])[0]
        assert not lenient.passed and "pass rate 0.0%" in lenient.reason
    finally:
        store.close()
