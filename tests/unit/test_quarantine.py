"""Which failures a quarantine excuses, and which flaky tests are worth quarantining."""

from __future__ import annotations

import pytest

from dtf.analysis.flaky import FlakyTest
from dtf.quarantine import QuarantineEntry, excused, quarantined_tests, suggest, verify_entries

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


PLANNED = {"unit": ["t/a.py::ok", "t/a.py::bad", "t/a.py::few"], "gpu": ["t/g.py::k"]}
HARDWARE = {"unit": "cpu", "gpu": "cuda"}


def _rows(test: str, outcomes: list[str], suite: str = "unit", hw: str = "cpu") -> list[dict]:
    return [{"suite": suite, "test_id": test, "attempt": n, "outcome": o, "hardware": hw}
            for n, o in enumerate(outcomes)]  # fmt: skip


RESULTS = [
    *_rows("t/a.py::ok", ["passed"] * 3),
    *_rows("t/a.py::bad", ["passed", "failed", "failed"]),
    *_rows("t/a.py::few", ["passed", "passed"]),  # a round given up on: no third row
    *_rows("t/g.py::k", ["passed"] * 3, "gpu", hw="cpu"),  # ran on the cpu fallback
]


@pytest.mark.parametrize(
    ("pattern", "hardware", "release", "why"),
    [
        ("t/a.py::ok", None, True, "t/a.py::ok passed 3 of 3 runs"),
        ("t/a.py::bad", None, False, "t/a.py::bad: failed in 2 of 3 runs"),
        ("t/a.py::few", None, False, "t/a.py::few: passed in only 2 of 3 runs"),
        ("t/a.py::o*", None, True, "t/a.py::ok passed 3 of 3 runs"),
        ("t/a.py::*", None, False, "t/a.py::bad: failed in 2 of 3 runs"),
        ("t/nope.py::*", None, False, "matches no collected test"),
        ("t/a.py::ok", "cuda", False, "matches no collected test on cuda"),
        # Degraded results (cpu fallback) do not vouch for a test quarantined on cuda...
        ("t/g.py::k", "cuda", False, "t/g.py::k: passed in only 0 of 3 runs"),
        # ...but do for one quarantined everywhere.
        ("t/g.py::k", None, True, "t/g.py::k passed 3 of 3 runs"),
    ],
)
def test_verification_releases_only_tests_that_passed_every_run(
    pattern: str, hardware: str | None, release: bool, why: str
) -> None:
    entry = QuarantineEntry("c", pattern, "flaky", "JIRA-1", NOW, None, hardware)
    [verdict] = verify_entries([entry], PLANNED, HARDWARE, RESULTS, runs=3)
    assert (verdict.release, verdict.why) == (release, why)


def test_two_tests_of_one_pattern_must_both_pass() -> None:
    rows = [*RESULTS, *_rows("t/a.py::ok2", ["passed"] * 3)]
    planned = {**PLANNED, "unit": [*PLANNED["unit"], "t/a.py::ok2"]}
    entry = QuarantineEntry("c", "t/a.py::ok*", "flaky", "JIRA-1", NOW)
    [verdict] = verify_entries([entry], planned, HARDWARE, rows, runs=3)
    assert verdict.release and verdict.why == "2 tests passed 3 of 3 runs"
    assert verdict.tests == ("t/a.py::ok", "t/a.py::ok2")


def test_quarantined_tests_are_chosen_by_pattern_and_the_suites_hardware() -> None:
    entries = [_entry("t/a.py::b*"), _entry("t/g.py::*", hardware="cuda"),
               _entry("t/a.py::ok", hardware="cuda")]  # fmt: skip
    assert quarantined_tests(PLANNED, HARDWARE, entries) == {
        "unit": ["t/a.py::bad"],
        "gpu": ["t/g.py::k"],
    }


def test_a_released_entry_is_no_longer_active() -> None:
    released = QuarantineEntry("c", "t", "flaky", "JIRA-1", NOW - 10, None, None, NOW - 1)
    assert not released.active(NOW) and excused([_fail("t")], [released], NOW) == []
