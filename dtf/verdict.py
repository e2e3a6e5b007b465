"""Decides a campaign's verdict from its stored outcomes; pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dtf.execution.outcomes import FAILING_OUTCOMES


@dataclass(frozen=True)
class Verdict:
    """'passed' or 'failed', with the reasons for a failure."""

    status: str
    reasons: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def decide_verdict(
    outcome_counts: Iterable[Mapping[str, object]],
    *,
    planned_tests: int,
    tests_with_results: int,
    infra_failed_shards: Iterable[str] = (),
) -> Verdict:
    """Failed if any test failed, any shard was lost to infrastructure, or results are missing."""
    failing = sum(int(str(r["n"])) for r in outcome_counts if r["outcome"] in FAILING_OUTCOMES)
    reasons: list[str] = []
    if failing:
        reasons.append(f"{failing} test{'s' if failing != 1 else ''} failed, errored, "
                       "timed out or crashed")  # fmt: skip
    lost = sorted(infra_failed_shards)
    if lost:
        reasons.append(f"{len(lost)} shard(s) lost to infrastructure faults: {', '.join(lost)}")
    if tests_with_results < planned_tests:
        missing = planned_tests - tests_with_results
        reasons.append(f"results are incomplete: {missing} of {planned_tests} planned tests "
                       "have no result")  # fmt: skip
    return Verdict("failed" if reasons else "passed", tuple(reasons))
