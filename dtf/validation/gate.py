"""The validation gate: check a stored run against its expectations and keep the report."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dtf.config import dtf_home
from dtf.store.results import ResultStore
from dtf.validation.facts import Plan, RunFacts, gather_facts
from dtf.validation.frames import build_input
from dtf.validation.gx_runner import CheckResult, run_checks
from dtf.validation.spec import Expectations

RESULT_FILE = "validation.json"


@dataclass(frozen=True)
class FailedExpectation:
    """One expectation the run did not meet, with the tests/shards/groups that broke it."""

    key: str
    description: str
    offenders: tuple[str, ...] = ()
    offender_count: int = 0
    error: str = ""

    def line(self) -> str:
        """One readable line: what failed and (some of) why."""
        if self.error:
            return f"{self.description}: could not be evaluated ({self.error})"
        if not self.offenders:
            return self.description
        shown = ", ".join(self.offenders[:5])
        more = self.offender_count - min(len(self.offenders), 5)
        return f"{self.description}: {shown}" + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class ValidationOutcome:
    """The gate's answer for a run: passed, each failed expectation, the report's location."""

    run_id: str
    passed: bool
    checked: int
    failed: tuple[FailedExpectation, ...] = ()
    report: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def reasons(self) -> list[str]:
        return [f.line() for f in self.failed]

    def markdown(self) -> str:
        """The artifact text: verdict of the gate and each failed expectation."""
        status = "passed" if self.passed else "failed"
        lines = [
            f"# Validation of {self.run_id}: **{status}**",
            "",
            f"{self.checked} expectations checked, {len(self.failed)} failed.",
        ]
        if self.failed:
            lines += ["", "| expectation | details |", "|---|---|"]
            for f in self.failed:
                detail = f.error or ", ".join(f"`{o}`" for o in f.offenders[:20]) or "-"
                lines.append(f"| {f.description} | {detail.replace('|', '/')} |")
        if self.report:
            lines += ["", f"Great Expectations Data Docs: `{self.report}`"]
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ValidationOutcome:
        data: dict[str, Any] = json.loads(text)
        failed = tuple(
            FailedExpectation(**{**f, "offenders": tuple(f["offenders"])}) for f in data["failed"]
        )
        return cls(**{**data, "failed": failed})


def report_dir(run_id: str) -> Path:
    """Where a run's reports are kept: <dtf home>/runs/<run id>/."""
    return dtf_home() / "runs" / run_id


def validate_run(
    store: ResultStore,
    run_id: str,
    spec: Expectations,
    *,
    plan: Plan | None = None,
    reports: Path | None = None,
) -> ValidationOutcome:
    """Check run `run_id` against `spec`; write Data Docs and validation.json under `reports`."""
    facts = gather_facts(store, run_id, plan)
    return validate_facts(facts, spec, reports=reports or report_dir(run_id))


def validate_facts(
    facts: RunFacts, spec: Expectations, *, reports: Path | None = None
) -> ValidationOutcome:
    """The gate over already gathered facts."""
    start = time.perf_counter()
    gate = build_input(facts, spec)
    docs = reports / "data_docs" if reports is not None else None
    run = run_checks(gate, docs)
    failed = tuple(_failed(r) for r in run.results if not r.success)
    timings = {**run.timings, "total_seconds": time.perf_counter() - start}
    outcome = ValidationOutcome(
        run_id=facts.run_id,
        passed=not failed,
        checked=len(run.results),
        failed=failed,
        report=str(run.docs_index) if run.docs_index else None,
        timings=timings,
    )
    if reports is not None:
        reports.mkdir(parents=True, exist_ok=True)
        (reports / RESULT_FILE).write_text(outcome.to_json(), encoding="utf-8")
    return outcome


def read_outcome(run_id: str, reports: Path | None = None) -> ValidationOutcome | None:
    """The validation kept for a run, if it was validated."""
    path = (reports or report_dir(run_id)) / RESULT_FILE
    try:
        return ValidationOutcome.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _failed(result: CheckResult) -> FailedExpectation:
    return FailedExpectation(
        key=result.check.key,
        description=result.check.description,
        offenders=result.offenders,
        offender_count=result.offender_count,
        error=result.error,
    )
