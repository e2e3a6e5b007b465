"""Comparing two runs' results test by test."""

from __future__ import annotations

from typing import Any

from dtf.planning.compare import compare_runs, latest_results


def _row(test_id: str, outcome: str, duration: float = 0.1, attempt: int = 0) -> dict[str, Any]:
    return {"test_id": test_id, "outcome": outcome, "duration": duration, "attempt": attempt}


def test_identical_runs_agree() -> None:
    rows = [_row("a", "passed"), _row("b", "failed")]
    result = compare_runs("A", rows, "B", list(rows))
    assert result.agree() and result.changes == () and result.common == 2


def test_tests_only_in_one_run_and_outcome_changes_disagree() -> None:
    a = [_row("both", "passed"), _row("gone", "passed"), _row("flip", "passed")]
    b = [_row("both", "passed"), _row("new", "skipped"), _row("flip", "failed")]
    result = compare_runs("A", a, "B", b)
    assert not result.agree()
    assert [(c.test_id, c.kind) for c in result.changes] == [
        ("flip", "outcome"),
        ("gone", "only_a"),
        ("new", "only_b"),
    ]
    flip = result.of_kind("outcome")[0]
    assert (flip.outcome_a, flip.outcome_b) == ("passed", "failed")
    assert result.common == 2


def test_duration_changes_need_both_seconds_and_ratio() -> None:
    a = [_row("slow", "passed", 2.0), _row("tiny", "passed", 0.01), _row("same", "passed", 10.0)]
    b = [_row("slow", "passed", 5.0), _row("tiny", "passed", 0.5), _row("same", "passed", 11.5)]
    result = compare_runs("A", a, "B", b)
    assert [c.test_id for c in result.of_kind("duration")] == ["slow"]
    assert result.agree()  # durations alone do not make runs disagree...
    assert not result.agree(durations=True)  # ...unless asked
    strict = compare_runs("A", a, "B", b, min_seconds=0.1, min_ratio=0.1)
    assert [c.test_id for c in strict.of_kind("duration")] == ["same", "slow", "tiny"]


def test_only_the_latest_attempt_of_a_test_counts() -> None:
    a = [_row("t", "failed", attempt=0), _row("t", "passed", attempt=1)]
    assert latest_results(a)["t"]["outcome"] == "passed"
    assert compare_runs("A", a, "B", [_row("t", "passed")]).agree()
