"""Decides from stored outcomes: a campaign's verdict, suite gates and skips; pure."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from dtf.execution.outcomes import FAILING_OUTCOMES
from dtf.spec.models import Gate, Suite


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
    excused: int = 0,
) -> Verdict:
    """Failed if any test failed, any shard was lost to infrastructure, or results are missing.

    `excused` failing tests are quarantined: they ran and are reported, but fail nothing.
    """
    failing = sum(int(str(r["n"])) for r in outcome_counts if r["outcome"] in FAILING_OUTCOMES)
    failing = max(0, failing - excused)
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


# --- suite gates: when a suite counts as failed for its dependents -----------------------

# A skipped test neither passes nor fails a gate.
NOT_COUNTED: frozenset[str] = frozenset({"skipped"})


@dataclass(frozen=True)
class GateResult:
    """Whether a suite passed its gate; `reason` says why not."""

    suite: str
    passed: bool
    reason: str = ""


def judge_gate(suite: str, gate: Gate, outcomes: Mapping[str, int]) -> GateResult:
    """Judge a suite by its tests' outcome counts: any failure, or a pass rate below the gate.

    The pass rate is the share of counted (not skipped) tests whose outcome is not failing:
    flaky tests, like in the campaign verdict, do not fail it.
    """
    failing = sum(n for outcome, n in outcomes.items() if outcome in FAILING_OUTCOMES)
    counted = sum(n for outcome, n in outcomes.items() if outcome not in NOT_COUNTED)
    summary = f"{failing} of {counted} test{'s' if counted != 1 else ''} failed"
    if gate.min_pass_rate is None:
        return GateResult(suite, passed=not failing, reason=summary if failing else "")
    rate = (counted - failing) / counted if counted else 1.0
    if rate < gate.min_pass_rate:
        reason = f"pass rate {rate:.1%} is below its gate of {gate.min_pass_rate:.1%} ({summary})"
        return GateResult(suite, passed=False, reason=reason)
    return GateResult(suite, passed=True)


@dataclass(frozen=True)
class Skip:
    """A suite that will not run because a suite it depends on failed its gate."""

    suite: str
    failed: str
    path: tuple[str, ...]  # from the skipped suite to the failed one, along depends_on
    reason: str


def skips_after(
    suites: Sequence[Suite], failed: Iterable[GateResult], already: Collection[str] = ()
) -> list[Skip]:
    """The suites to skip, each once, because of the failed gates; independent ones go on."""
    dependents: dict[str, list[str]] = {s.name: [] for s in suites}
    for suite in suites:
        for dep in suite.depends_on:
            dependents.setdefault(dep, []).append(suite.name)
    out: dict[str, Skip] = {}
    for result in sorted((r for r in failed if not r.passed), key=lambda r: r.suite):
        for name, path in _reachable(result.suite, dependents):
            if name in already or name in out:
                continue
            via = f" (through {' -> '.join(path[1:-1])})" if len(path) > 2 else ""
            reason = (
                f"skipped: suite '{name}' depends on suite '{result.suite}'{via}, which failed "
                f"its gate: {result.reason}"
            )
            out[name] = Skip(name, result.suite, path, reason)
    return list(out.values())


def _reachable(
    start: str, dependents: Mapping[str, list[str]]
) -> list[tuple[str, tuple[str, ...]]]:
    """Breadth first, so each dependent gets its shortest path back to `start`."""
    found: list[tuple[str, tuple[str, ...]]] = []
    seen = {start}
    frontier: list[tuple[str, tuple[str, ...]]] = [(start, (start,))]
    while frontier:
        following: list[tuple[str, tuple[str, ...]]] = []
        for name, path in frontier:
            for child in dependents.get(name, []):
                if child not in seen:
                    seen.add(child)
                    entry = (child, (child, *path))
                    found.append(entry)
                    following.append(entry)
        frontier = following
    return found
