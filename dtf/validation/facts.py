"""What the gate and the publishers know about one run: results, plan, baseline, escalations."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select

from dtf.config import dtf_home
from dtf.errors import DtfError
from dtf.execution.outcomes import FAILING_OUTCOMES
from dtf.store.queries import PASSING
from dtf.store.results import ResultStore
from dtf.store.schema import recovery_events, runs

# The recovery ladder's last rung gives a shard up and escalates it to a human (DESIGN 4).
ESCALATION_RUNG = 5


@dataclass(frozen=True)
class ResultRow:
    """The latest attempt of one test in a run."""

    test_id: str
    suite: str
    hardware: str
    outcome: str
    duration: float
    message: str = ""
    worker: str = ""
    attempts: int = 1
    failed_attempts: int = 0
    shard_id: str = ""

    @property
    def failing(self) -> bool:
        return self.outcome in FAILING_OUTCOMES

    @property
    def flaky(self) -> bool:
        """A flaky verdict, or a pass that needed a rerun: never counted as a plain pass."""
        return self.outcome == "flaky" or (self.outcome in PASSING and self.failed_attempts > 0)


@dataclass(frozen=True)
class ShardRow:
    """The latest attempt of one shard."""

    shard_id: str
    suite: str
    status: str
    hardware: str = ""
    worker: str = ""
    message: str = ""


@dataclass(frozen=True)
class MetricRow:
    """One metric a test recorded (latest attempt), with the baseline run's value if any."""

    test_id: str
    name: str
    hardware: str
    value: float
    unit: str = ""
    baseline: float | None = None
    suite: str = ""


@dataclass(frozen=True)
class Escalation:
    """A shard given up to infrastructure faults: a human has to look at it."""

    shard_id: str
    error_class: str
    hardware: str
    worker: str
    message: str


@dataclass(frozen=True)
class Plan:
    """What the run planned: test ids and shard ids (from its manifest)."""

    tests: frozenset[str]
    shards: frozenset[str]


@dataclass(frozen=True)
class RunFacts:
    """Everything about a run that validation and publishing decide from."""

    run_id: str
    campaign: str
    run: Mapping[str, Any]
    results: tuple[ResultRow, ...]
    shards: tuple[ShardRow, ...] = ()
    metrics: tuple[MetricRow, ...] = ()
    plan: Plan | None = None
    baseline_run_id: str | None = None
    baseline_outcomes: Mapping[str, str] = field(default_factory=dict)
    escalations: tuple[Escalation, ...] = ()

    @property
    def planned_count(self) -> int:
        return len(self.plan.tests) if self.plan else int(self.run.get("planned_tests") or 0)

    def missing_tests(self) -> list[str]:
        """Planned tests without any result (empty when the plan is unknown)."""
        tested = {r.test_id for r in self.results}
        return sorted(self.plan.tests - tested) if self.plan else []

    def tests_with_results(self) -> int:
        tested = {r.test_id for r in self.results}
        return len(tested & self.plan.tests) if self.plan else len(tested)

    def failing(self) -> list[ResultRow]:
        return [r for r in self.results if r.failing]

    def new_failures(self) -> list[ResultRow]:
        """Failing now and not failing in the baseline; with no baseline every failure is new.

        Tests of shards lost to infrastructure are left out: they did not fail, they did not
        run (the lost shard is an escalation, and the gate's own check).
        """
        lost = set(self.infra_failed_shards())
        return [
            r
            for r in self.failing()
            if self.baseline_outcomes.get(r.test_id, "") not in FAILING_OUTCOMES
            and r.shard_id not in lost
        ]

    def fixed(self) -> list[ResultRow]:
        """Failing in the baseline and passing now."""
        return [
            r
            for r in self.results
            if r.outcome in PASSING and self.baseline_outcomes.get(r.test_id) in FAILING_OUTCOMES
        ]

    def flaky(self) -> list[ResultRow]:
        return [r for r in self.results if r.flaky]

    def infra_failed_shards(self) -> list[str]:
        return sorted(s.shard_id for s in self.shards if s.status == "infra_failed")

    def outcome_counts(self) -> Counter[str]:
        return Counter("flaky" if r.flaky else r.outcome for r in self.results)

    @property
    def verdict(self) -> str:
        return str(self.run.get("verdict") or self.run.get("status") or "unknown")


def gather_facts(store: ResultStore, run_id: str, plan: Plan | None = None) -> RunFacts:
    """Read a run's facts from the store; `plan` defaults to the run's manifest, if kept."""
    run = store.run(run_id)
    if run is None:
        raise DtfError(f"run {run_id} is not in the results store {store.location}")
    baseline = baseline_run_id(store, run)
    baseline_rows = latest_results(store.results_of(baseline)) if baseline else {}
    current = latest_results(store.results_of(run_id))
    suites = {k: v.suite for k, v in current.items()}
    return RunFacts(
        run_id=run_id,
        campaign=str(run["campaign"]),
        run=run,
        results=tuple(current.values()),
        shards=tuple(latest_shards(store.shards_of(run_id))),
        metrics=tuple(_metrics(store, run_id, baseline, suites)),
        plan=plan if plan is not None else load_plan(run_id),
        baseline_run_id=baseline,
        baseline_outcomes={k: v.outcome for k, v in baseline_rows.items()},
        escalations=tuple(escalations(store, run_id)),
    )


def latest_results(rows: Iterable[Mapping[str, Any]]) -> dict[str, ResultRow]:
    """Each test's highest attempt, counting how many of its attempts failed."""
    by_test: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_test.setdefault(str(row["test_id"]), []).append(row)
    out: dict[str, ResultRow] = {}
    for test_id, attempts in sorted(by_test.items()):
        last = max(attempts, key=lambda r: int(r["attempt"]))
        out[test_id] = ResultRow(
            test_id=test_id,
            suite=str(last["suite"]),
            hardware=str(last["hardware"] or ""),
            outcome=str(last["outcome"]),
            duration=float(last["duration"] or 0.0),
            message=str(last["message"] or ""),
            worker=str(last["worker"] or ""),
            attempts=len(attempts),
            shard_id=str(last.get("shard_id") or ""),
            failed_attempts=sum(1 for r in attempts if r["outcome"] in FAILING_OUTCOMES),
        )
    return out


def latest_shards(rows: Iterable[Mapping[str, Any]]) -> list[ShardRow]:
    last: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        seen = last.get(str(row["shard_id"]))
        if seen is None or int(row["attempt"]) >= int(seen["attempt"]):
            last[str(row["shard_id"])] = row
    return [
        ShardRow(
            shard_id=k,
            suite=str(r["suite"]),
            status=str(r["status"]),
            hardware=str(r["hardware"] or ""),
            worker=str(r["worker"] or ""),
            message=str(r["message"] or ""),
        )
        for k, r in sorted(last.items())
    ]


def baseline_run_id(store: ResultStore, run: Mapping[str, Any]) -> str | None:
    """The previous completed run of the same campaign (and matrix cell), if any."""
    matrix = (
        runs.c.matrix.is_(None) if run.get("matrix") is None else (runs.c.matrix == run["matrix"])
    )
    earlier = or_(
        runs.c.started_at < run["started_at"],
        and_(runs.c.started_at == run["started_at"], runs.c.run_id < run["run_id"]),
    )
    query = (
        select(runs.c.run_id)
        .where(runs.c.campaign == run["campaign"], runs.c.status == "completed", matrix, earlier)
        .order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
        .limit(1)
    )
    with store.transaction() as conn:
        found = conn.execute(query).scalar()
    return str(found) if found is not None else None


def escalations(store: ResultStore, run_id: str) -> list[Escalation]:
    """Shards the recovery ladder gave up on, and shards lost to infrastructure."""
    query = select(recovery_events).where(
        recovery_events.c.run_id == run_id, recovery_events.c.rung >= ESCALATION_RUNG
    )
    with store.transaction() as conn:
        events = [dict(r) for r in conn.execute(query).mappings()]
    found = {
        e["shard_id"]: Escalation(
            e["shard_id"], e["error_class"], e["hardware"], e["worker"], e["message"]
        )
        for e in sorted(events, key=lambda e: (e["at"], e["event_id"]))
    }
    for shard in latest_shards(store.shards_of(run_id)):
        if shard.status == "infra_failed" and shard.shard_id not in found:
            found[shard.shard_id] = Escalation(
                shard.shard_id, "infrastructure", shard.hardware, shard.worker, shard.message
            )
    return [found[k] for k in sorted(found)]


def load_plan(run_id: str, home: Path | None = None) -> Plan | None:
    """The planned tests and shards from the run's manifest in the dtf home, if it was kept."""
    path = (home or dtf_home()) / "runs" / run_id / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    shards = data.get("shards") or []
    tests = {str(n) for s in shards for n in s.get("nodeids", ())}
    return Plan(frozenset(tests), frozenset(str(s["shard_id"]) for s in shards))


def _metrics(
    store: ResultStore, run_id: str, baseline: str | None, suites: Mapping[str, str]
) -> list[MetricRow]:
    before = _latest_metric_values(store.metrics_of(baseline)) if baseline else {}
    rows = []
    for key, (value, unit) in sorted(_latest_metric_values(store.metrics_of(run_id)).items()):
        old = before.get(key)
        rows.append(
            MetricRow(
                *key,
                value=value,
                unit=unit,
                baseline=old[0] if old else None,
                suite=suites.get(key[0], ""),
            )
        )
    return rows


def _latest_metric_values(
    rows: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str, str], tuple[float, str]]:
    best: dict[tuple[str, str, str], tuple[int, float, str]] = {}
    for row in rows:
        key = (str(row["test_id"]), str(row["name"]), str(row["hardware"] or ""))
        if key not in best or int(row["attempt"]) >= best[key][0]:
            best[key] = (int(row["attempt"]), float(row["value"]), str(row["unit"] or ""))
    return {k: (v[1], v[2]) for k, v in best.items()}
