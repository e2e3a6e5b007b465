"""The simulator's inputs (orchestration costs, faults) and its report; pure data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

# DESIGN.md section 6: one flow submits at most about 30-38 task runs a second, and one
# task run through DaskTaskRunner costs 84-200 ms; the defaults sit in the middle.
SUBMIT_RATE = 34.0
TASK_OVERHEAD = 0.15


@dataclass(frozen=True)
class Orchestration:
    """What Prefect and Dask cost per shard: a submission rate and a per-task overhead."""

    submit_rate: float = SUBMIT_RATE  # task runs a second one flow can submit
    task_overhead: float = TASK_OVERHEAD  # seconds each task run adds on its worker


@dataclass(frozen=True)
class Faults:
    """Injected worker deaths: at random (per worker-hour) and/or at listed times."""

    rate_per_worker_hour: float = 0.0
    at: tuple[tuple[float, str], ...] = ()  # (seconds from the start, worker name)
    restart_seconds: float = 60.0  # a dead worker comes back after this (circuit permitting)
    seed: int = 0


@dataclass(frozen=True)
class RecoveryRecord:
    """One decision the real recovery ladder took for a lost shard attempt."""

    time: float
    shard: str
    attempt: int
    worker: str
    strategy: str
    rung: int


@dataclass(frozen=True)
class Spread:
    """Summary of a set of durations (seconds)."""

    mean: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    max: float = 0.0

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            return cls()
        ordered = sorted(values)
        last = len(ordered) - 1
        p50, p95 = (ordered[min(last, int(q * len(ordered)))] for q in (0.5, 0.95))
        return cls(sum(ordered) / len(ordered), p50, p95, ordered[-1])


@dataclass(frozen=True)
class ClassUse:
    """How busy one hardware class of workers was."""

    workers: int
    slots: int
    busy_seconds: float  # slot-seconds running task runs, overhead included
    utilization: float  # busy / (slots x makespan)


@dataclass(frozen=True)
class OrchestrationLoad:
    """What the flow had to submit, against what one flow can submit."""

    task_runs: int
    mean_rate: float  # task runs a second over the whole campaign
    demand_rate: float  # the rate that keeps every slot busy: slots / mean task-run length
    capacity: float  # the configured submit rate (DESIGN.md section 6: 30-38)
    submitting_seconds: float  # time the flow spent submitting
    overhead_share: float  # per-task overhead / busy time
    bound: bool  # demand above capacity: the flow, not the fleet, sets the pace


@dataclass(frozen=True)
class SimResult:
    """Everything one simulated campaign measured."""

    tests: int
    shards: int
    workers: int
    target_seconds: float
    makespan: float
    lower_bound: float
    utilization: Mapping[str, ClassUse]
    queue_delay: Spread  # ready at a worker's door -> started
    submit_delay: Spread  # wanted by the flow -> submitted
    orchestration: OrchestrationLoad
    recoveries: tuple[RecoveryRecord, ...] = ()
    given_up: tuple[str, ...] = ()
    unplaced: tuple[str, ...] = ()
    worker_failures: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.makespan / self.lower_bound if self.lower_bound > 0 else 1.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = self.ratio
        out["recovery_counts"] = self.recovery_counts()
        return out

    def recovery_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.recoveries:
            counts[record.strategy] = counts.get(record.strategy, 0) + 1
        return dict(sorted(counts.items()))
