"""Which failures a quarantine excuses, and which flaky tests are worth quarantining."""

from __future__ import annotations

from dtf.analysis.flaky import FlakyTest
from dtf.quarantine import QuarantineEntry, excused, suggest

NOW = 1_000_000.0


def _entry(
    pattern: str, hardware: str | None = None, expires: float | None = None
) -> QuarantineEntry:
    return QuarantineEntry("c", pattern, "flaky", "JIRA-1", NOW - 10, expires, hardware)


def _fail(test_id: str, hardware: str = "cpu") -> dict[str, str]:
    return {"test_id": test_id, "hardware": hardware, "outcome": "failed"}


def test_patterns_hardware_scope_and_expiry_decide_what_is_excused() -> None:
    failures = [_fail("tests/a.py::t1"), _fail("tests/b.py::t2", "cuda"), _fail("tests/c.py::t3")]
    entries = [
        _entry("tests/a.py::*"),
        _entry("tests/b.py::t2", hardware="rocm"),  # wrong hardware: not excused
        _entry("tests/c.py::t3", expires=NOW - 1),  # expired: not excused
    ]
    assert [f["test_id"] for f in excused(failures, entries, NOW)] == ["tests/a.py::t1"]
    assert excused(failures, [_entry("tests/b.py::t2", hardware="cuda")], NOW) == [failures[1]]


def _flaky(test_id: str, runs: int, failures: int, flakiness: float) -> FlakyTest:
    return FlakyTest(test_id=test_id, suite="s", runs=runs, failures=failures, flips=0,
                     flip_rate=flakiness, reruns=0, passed_on_rerun=0, pass_on_rerun_rate=None,
                     flakiness=flakiness, last_seen=NOW)  # fmt: skip


def test_suggestions_skip_consistent_failures_low_scores_and_quarantined_tests() -> None:
    rows = [
        _flaky("flips", runs=10, failures=4, flakiness=0.6),
        _flaky("always-red", runs=10, failures=10, flakiness=0.9),  # broken, not flaky
        _flaky("rarely", runs=10, failures=1, flakiness=0.1),
        _flaky("known", runs=10, failures=5, flakiness=0.7),
    ]
    picked = suggest(rows, min_flakiness=0.2, quarantined=["known"])
    assert [r.test_id for r in picked] == ["flips"]
