"""Compares two runs' per-test results: tests only in one, outcome and duration changes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ChangeKind = Literal["only_a", "only_b", "outcome", "duration"]

# Durations of short tests are noise: a change counts only when it is this large in seconds
# and this large relative to the slower run.
DURATION_SECONDS = 1.0
DURATION_RATIO = 0.5


@dataclass(frozen=True)
class CaseChange:
    """One test whose result differs between run A and run B."""

    test_id: str
    kind: ChangeKind
    outcome_a: str | None = None
    outcome_b: str | None = None
    duration_a: float | None = None
    duration_b: float | None = None


@dataclass(frozen=True)
class RunComparison:
    """Side-by-side results of two runs."""

    run_a: str
    run_b: str
    common: int
    changes: tuple[CaseChange, ...] = field(default_factory=tuple)

    def of_kind(self, kind: ChangeKind) -> list[CaseChange]:
        return [c for c in self.changes if c.kind == kind]

    def agree(self, *, durations: bool = False) -> bool:
        """Same tests, same outcomes (and, if asked, no duration change beyond threshold)."""
        return not any(c.kind != "duration" or durations for c in self.changes)


def latest_results(rows: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Each test's row of its highest attempt."""
    out: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        held = out.get(row["test_id"])
        if held is None or int(row["attempt"]) > int(held["attempt"]):
            out[row["test_id"]] = row
    return out


def compare_runs(
    run_a: str,
    rows_a: Iterable[Mapping[str, Any]],
    run_b: str,
    rows_b: Iterable[Mapping[str, Any]],
    *,
    min_seconds: float = DURATION_SECONDS,
    min_ratio: float = DURATION_RATIO,
) -> RunComparison:
    """Compare result rows (test_id, attempt, outcome, duration) of two runs, by test id."""
    a, b = latest_results(rows_a), latest_results(rows_b)
    changes: list[CaseChange] = []
    for test_id in sorted(a.keys() | b.keys()):
        left, right = a.get(test_id), b.get(test_id)
        if right is None:
            changes.append(CaseChange(test_id, "only_a", _outcome(left), None, _secs(left)))
        elif left is None:
            changes.append(CaseChange(test_id, "only_b", None, _outcome(right), None, _secs(right)))
        elif left["outcome"] != right["outcome"]:
            changes.append(_change(test_id, "outcome", left, right))
        elif _duration_changed(_secs(left) or 0.0, _secs(right) or 0.0, min_seconds, min_ratio):
            changes.append(_change(test_id, "duration", left, right))
    return RunComparison(run_a, run_b, len(a.keys() & b.keys()), tuple(changes))


def _duration_changed(a: float, b: float, min_seconds: float, min_ratio: float) -> bool:
    delta = abs(b - a)
    return delta >= min_seconds and delta >= min_ratio * max(a, b)


def _change(
    test_id: str, kind: ChangeKind, left: Mapping[str, Any], right: Mapping[str, Any]
) -> CaseChange:
    return CaseChange(test_id, kind, _outcome(left), _outcome(right), _secs(left), _secs(right))


def _outcome(row: Mapping[str, Any] | None) -> str | None:
    return None if row is None else str(row["outcome"])


def _secs(row: Mapping[str, Any] | None) -> float | None:
    if row is None or row.get("duration") is None:
        return None
    return float(row["duration"])
