"""The built-in rungs: retry, move, isolate, fall back, give up; each proposes one action."""

from __future__ import annotations

from dataclasses import dataclass

from dtf.recovery.ladder import RecoveryAction, RecoveryContext, Rung
from dtf.recovery.taxonomy import Failure


@dataclass(frozen=True)
class RetryInPlace:
    """Rung 1: transient faults (a dropped connection) often pass on a plain retry."""

    name: str = "retry"
    rung: Rung = Rung.RETRY
    max_uses: int = 1

    def propose(self, failure: Failure, context: RecoveryContext) -> RecoveryAction | None:
        if not context.healthy_workers:
            return None  # nowhere to retry: only a fallback or giving up can help
        if failure.kind == "worker_lost" and not context.healthy_workers - context.failed_workers:
            return None  # the only worker just died: retrying there is the move rung's job
        return RecoveryAction(self.rung, self.name, f"retry after {failure.kind}")


@dataclass(frozen=True)
class MoveToAnotherWorker:
    """Rung 2: run on another worker of the same hardware, excluding those that failed."""

    name: str = "move"
    rung: Rung = Rung.MOVE
    max_uses: int = 2

    def propose(self, failure: Failure, context: RecoveryContext) -> RecoveryAction | None:
        excluded = context.failed_workers | ({failure.worker} if failure.worker else set())
        if not context.healthy_workers - excluded:
            return None
        return RecoveryAction(
            self.rung, self.name, f"move away from {', '.join(sorted(excluded)) or 'the worker'}",
            exclude_workers=frozenset(excluded),
        )  # fmt: skip


@dataclass(frozen=True)
class IsolateBySplitting:
    """Rung 3: split the shard so a test that kills its worker takes down only its part."""

    name: str = "isolate"
    rung: Rung = Rung.ISOLATE
    max_uses: int = 1
    parts: int = 2

    def propose(self, failure: Failure, context: RecoveryContext) -> RecoveryAction | None:
        if context.tests < 2 or not context.healthy_workers:
            return None
        parts = min(self.parts, context.tests)
        return RecoveryAction(self.rung, self.name, f"split into {parts} parts",
                              exclude_workers=context.failed_workers, split=parts)  # fmt: skip


@dataclass(frozen=True)
class FallBackHardware:
    """Rung 4: run on the suite's declared alternative hardware; results are degraded."""

    name: str = "fallback"
    rung: Rung = Rung.FALLBACK
    max_uses: int = 1

    def propose(self, failure: Failure, context: RecoveryContext) -> RecoveryAction | None:
        if not context.fallbacks:
            return None
        needs = dict(context.fallbacks[0])
        return RecoveryAction(self.rung, self.name, f"fall back to {needs}", needs=needs)


@dataclass(frozen=True)
class GiveUp:
    """Rung 5: mark the shard infra_failed, open the circuit and escalate to a human."""

    name: str = "give_up"
    rung: Rung = Rung.GIVE_UP
    max_uses: int = 1

    def propose(self, failure: Failure, context: RecoveryContext) -> RecoveryAction | None:
        if not failure.recoverable:
            why = "not recoverable"
        elif not context.healthy_workers and not context.fallbacks:
            why = "no healthy worker and no fallback hardware"
        else:
            why = "every other rung was used"
        return RecoveryAction(self.rung, self.name, f"give up ({why}): {failure.message}")
