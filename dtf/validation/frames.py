"""Turns a run's facts and the campaign's expectations into data frames and checks over them.

Every check is a column of a frame that a single Great Expectations expectation judges. The
selection a rule makes (suite, hardware, test pattern) is done here in plain Python, so a
suite name never ends up inside a query string.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

import pandas as pd

from dtf.store.queries import PASSING
from dtf.validation.facts import MetricRow, ResultRow, RunFacts
from dtf.validation.spec import Expectations, MetricRule, Scope


@dataclass(frozen=True)
class Check:
    """One expectation: `kind` over `column` of `frame`; `id_column` names offending rows."""

    key: str
    description: str
    frame: str
    kind: str  # "not_null", "null" or "between"
    column: str
    id_column: str
    min_value: float | None = None
    max_value: float | None = None
    label: str = ""  # how an offending value is named in messages ("duration", "missing")


@dataclass(frozen=True)
class GateInput:
    """The frames to validate and the checks to run on them."""

    frames: dict[str, pd.DataFrame]
    checks: tuple[Check, ...]


def build_input(facts: RunFacts, spec: Expectations) -> GateInput:
    """Frames of the run (one per entity) and the checks the spec asks for."""
    frames: dict[str, pd.DataFrame] = {}
    checks: list[Check] = []
    frames["run"], checks_run = _run_frame(facts, spec)
    frames["tests"], checks_tests = _tests_frame(facts, spec)
    frames["groups"], checks_groups = _groups_frame(facts, spec)
    frames["shards"], checks_shards = _shards_frame(facts, spec)
    frames["metrics"], checks_metrics = _metrics_frame(facts, spec)
    for part in (checks_run, checks_tests, checks_groups, checks_shards, checks_metrics):
        checks.extend(part)
    return GateInput(frames, tuple(checks))


def matches(scope: Scope, suite: str, hardware: str, test_id: str | None) -> bool:
    if scope.suite is not None and scope.suite != suite:
        return False
    if scope.hardware is not None and scope.hardware != hardware:
        return False
    return scope.test is None or test_id is None or fnmatchcase(test_id, scope.test)


def _run_frame(facts: RunFacts, spec: Expectations) -> tuple[pd.DataFrame, list[Check]]:
    tested = facts.tests_with_results()
    row: dict[str, object] = {
        "run_id": facts.run_id,
        "missing_tests": max(facts.planned_count - tested, 0),
        "tests_with_results": tested,
    }
    checks = [
        Check(
            "has_results",
            "the run has results at all",
            "run",
            "between",
            "tests_with_results",
            "run_id",
            min_value=1,
            label="tests",
        )
    ]
    if facts.plan is None:
        # Without the manifest only the planned count is known: compare counts.
        checks.insert(
            0,
            Check(
                "complete",
                "every planned test has a result",
                "run",
                "between",
                "missing_tests",
                "run_id",
                max_value=0,
                label="missing",
            ),
        )
    # A metric rule that matches nothing usually means the benchmark stopped recording it.
    for i, rule in enumerate(spec.metrics):
        column = f"metric_rule_{i}_rows"
        row[column] = sum(1 for m in facts.metrics if _metric_matches(rule, m))
        checks.append(
            Check(
                f"metrics[{i}].recorded",
                f"metric '{rule.name}' was recorded",
                "run",
                "between",
                column,
                "run_id",
                min_value=1,
                label="rows",
            )
        )
    return pd.DataFrame([row]), checks


def _tests_frame(facts: RunFacts, spec: Expectations) -> tuple[pd.DataFrame, list[Check]]:
    by_id = {r.test_id: r for r in facts.results}
    ids = sorted(set(by_id) | (facts.plan.tests if facts.plan else set()))
    new = {r.test_id for r in facts.new_failures()}
    rows = []
    for test_id in ids:
        result = by_id.get(test_id)
        row: dict[str, object] = {
            "test_id": test_id,
            "outcome": result.outcome if result else None,
            "new_failure": test_id if test_id in new else None,
        }
        for i, rule in enumerate(spec.durations):
            hit = result is not None and matches(rule, result.suite, result.hardware, test_id)
            row[f"duration_rule_{i}"] = result.duration if hit and result else None
        rows.append(row)
    checks = []
    if facts.plan is not None:
        checks.append(
            Check(
                "complete",
                "every planned test has a result",
                "tests",
                "not_null",
                "outcome",
                "test_id",
            )
        )
    if spec.no_new_failures:
        what = f"no new failures against baseline run {facts.baseline_run_id or '(none)'}"
        checks.append(Check("no_new_failures", what, "tests", "null", "new_failure", "test_id"))
    for i, rule in enumerate(spec.durations):
        what = f"{_scope_text(rule)} take at most {rule.max_seconds:g} s"
        column = f"duration_rule_{i}"
        checks.append(
            Check(
                f"durations[{i}]",
                what,
                "tests",
                "between",
                column,
                "test_id",
                max_value=rule.max_seconds,
                label="duration",
            )
        )
    columns = ["test_id", "outcome", "new_failure"] + [
        f"duration_rule_{i}" for i in range(len(spec.durations))
    ]
    return _frame(rows, columns), checks


def _groups_frame(facts: RunFacts, spec: Expectations) -> tuple[pd.DataFrame, list[Check]]:
    rows: list[dict[str, object]] = []
    checks: list[Check] = []
    for i, rule in enumerate(spec.pass_rate):
        column = f"pass_rate_rule_{i}"
        selected = [r for r in facts.results if matches(rule, r.suite, r.hardware, r.test_id)]
        groups = _pass_rates(selected)
        if not groups:
            # A rule whose suite/hardware produced no results at all cannot be met.
            groups = {(rule.suite or "*", rule.hardware or "*"): 0.0}
        for (suite, hardware), rate in sorted(groups.items()):
            rows.append({"group": f"{suite}/{hardware or '-'}", "rule": i, column: rate})
        what = (
            f"each suite/hardware group ({_scope_text(rule)}) passes at least {rule.at_least:.0%}"
        )
        checks.append(
            Check(
                f"pass_rate[{i}]",
                what,
                "groups",
                "between",
                column,
                "group",
                min_value=rule.at_least,
                label="pass rate",
            )
        )
    columns = ["group", "rule"] + [f"pass_rate_rule_{i}" for i in range(len(spec.pass_rate))]
    return _frame(rows, columns), checks


def _pass_rates(results: Iterable[ResultRow]) -> dict[tuple[str, str], float | None]:
    """Passing share per (suite, hardware), skips left out; None when everything skipped."""
    counted: dict[tuple[str, str], list[int]] = {}
    for r in results:
        tally = counted.setdefault((r.suite, r.hardware), [0, 0])
        if r.outcome == "skipped":
            continue
        tally[1] += 1
        tally[0] += int(r.outcome in PASSING and not r.flaky)
    return {k: (p / n if n else None) for k, (p, n) in counted.items()}


def _shards_frame(facts: RunFacts, spec: Expectations) -> tuple[pd.DataFrame, list[Check]]:
    status = {s.shard_id: s.status for s in facts.shards}
    ids = sorted(set(status) | (facts.plan.shards if facts.plan else set()))
    rows: list[dict[str, object]] = [
        {
            "shard_id": shard,
            "status": status.get(shard),
            "infra_failed": shard if status.get(shard) == "infra_failed" else None,
        }
        for shard in ids
    ]
    checks = []
    if facts.plan is not None:
        checks.append(
            Check(
                "planned_shards_ran",
                "every planned shard has run",
                "shards",
                "not_null",
                "status",
                "shard_id",
            )
        )
    if spec.no_infra_failed_shards:
        checks.append(
            Check(
                "no_infra_failed_shards",
                "no shard was lost to infrastructure",
                "shards",
                "null",
                "infra_failed",
                "shard_id",
            )
        )
    return _frame(rows, ["shard_id", "status", "infra_failed"]), checks


def _metrics_frame(facts: RunFacts, spec: Expectations) -> tuple[pd.DataFrame, list[Check]]:
    rows: list[dict[str, object]] = []
    for metric in facts.metrics:
        row: dict[str, object] = {
            "metric": f"{metric.test_id} {metric.name} [{metric.hardware or '-'}]"
        }
        for i, rule in enumerate(spec.metrics):
            hit = _metric_matches(rule, metric)
            row[f"metric_rule_{i}"] = metric.value if hit else None
            row[f"metric_change_rule_{i}"] = _change_pct(metric) if hit else None
        rows.append(row)
    checks: list[Check] = []
    for i, rule in enumerate(spec.metrics):
        checks.extend(_metric_checks(i, rule))
    columns = ["metric"]
    for i in range(len(spec.metrics)):
        columns += [f"metric_rule_{i}", f"metric_change_rule_{i}"]
    return _frame(rows, columns), checks


def _metric_checks(i: int, rule: MetricRule) -> list[Check]:
    checks = []
    if rule.min is not None or rule.max is not None:
        bounds = (
            f"[{'' if rule.min is None else f'{rule.min:g}'}, "
            f"{'' if rule.max is None else f'{rule.max:g}'}]"
        )
        checks.append(
            Check(
                f"metrics[{i}]",
                f"metric '{rule.name}' of {_scope_text(rule)} within {bounds}",
                "metrics",
                "between",
                f"metric_rule_{i}",
                "metric",
                min_value=rule.min,
                max_value=rule.max,
                label="value",
            )
        )
    if rule.within_pct_of_baseline is not None:
        pct = rule.within_pct_of_baseline
        low = None if rule.direction == "increase" else -pct
        high = None if rule.direction == "decrease" else pct
        moves = {"both": "changes", "increase": "rises", "decrease": "falls"}[rule.direction]
        checks.append(
            Check(
                f"metrics[{i}].baseline",
                f"metric '{rule.name}' of "
                f"{_scope_text(rule)} {moves} at most {pct:g}% from the baseline",
                "metrics",
                "between",
                f"metric_change_rule_{i}",
                "metric",
                min_value=low,
                max_value=high,
                label="change %",
            )
        )
    return checks


def _metric_matches(rule: MetricRule, metric: MetricRow) -> bool:
    return metric.name == rule.name and matches(rule, metric.suite, metric.hardware, metric.test_id)


def _change_pct(metric: MetricRow) -> float | None:
    if metric.baseline is None or metric.baseline == 0:
        return None
    return (metric.value - metric.baseline) / abs(metric.baseline) * 100.0


def _scope_text(scope: Scope) -> str:
    parts = []
    if scope.suite:
        parts.append(f"suite {scope.suite}")
    if scope.hardware:
        parts.append(f"hardware {scope.hardware}")
    if scope.test:
        parts.append(f"tests {scope.test}")
    return "tests of " + ", ".join(parts) if parts else "all tests"


def _frame(rows: list[dict[str, object]], columns: list[str]) -> pd.DataFrame:
    # Object dtype keeps None as None for ids and numbers alike; GE reads it as missing.
    return pd.DataFrame(rows, columns=columns).astype(object)
