"""Typed results of a shard: one CaseResult per test, and the ShardOutcome that holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal[
    "passed", "failed", "skipped", "xfailed", "xpassed", "error", "timeout", "crashed", "flaky"
]
# Outcomes that fail a campaign; xpassed counts as a pass, as in pytest without strict xfail.
FAILING_OUTCOMES: frozenset[str] = frozenset({"failed", "error", "timeout", "crashed"})


@dataclass(frozen=True)
class Metric:
    """A named numeric value a test recorded with the `dtf_metric` fixture."""

    name: str
    value: float
    unit: str = ""


@dataclass(frozen=True)
class CaseResult:
    """The result of one test in one attempt of one shard."""

    nodeid: str
    outcome: Outcome
    duration: float = 0.0
    message: str = ""
    output: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    metrics: tuple[Metric, ...] = ()


@dataclass
class ShardOutcome:
    """What running one shard produced; red tests are data here, never exceptions."""

    shard_id: str
    results: list[CaseResult] = field(default_factory=list)
    launches: int = 0
    wall_seconds: float = 0.0
    worker: str = ""
    hardware: str = ""
    simulated: bool = False
    # The built environment the shard ran in (PreparedWorkspace.record()); empty without one.
    environment: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for result in self.results:
            out[result.outcome] = out.get(result.outcome, 0) + 1
        return out
