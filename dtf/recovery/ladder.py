"""The recovery ladder: which rung to climb next for an infrastructure fault; pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

from dtf.recovery.taxonomy import Failure

MIN_SAMPLES_TO_ADAPT = 3


class Rung(IntEnum):
    """The five rungs, in their default order."""

    RETRY = 1
    MOVE = 2
    ISOLATE = 3
    FALLBACK = 4
    GIVE_UP = 5


@dataclass(frozen=True)
class RecoveryContext:
    """What the ladder knows about the failing shard when it decides."""

    shard_id: str
    tests: int
    hardware: str
    failed_workers: frozenset[str]
    healthy_workers: frozenset[str]  # workers that fit the shard's needs, circuits closed
    fallbacks: tuple[Mapping[str, float], ...] = ()
    used: Mapping[Rung, int] = field(default_factory=dict)  # rungs tried on this shard


@dataclass(frozen=True)
class RecoveryAction:
    """What to do next with a failed shard attempt."""

    rung: Rung
    strategy: str
    reason: str
    exclude_workers: frozenset[str] = frozenset()
    split: int = 1  # run the shard as this many parts
    needs: Mapping[str, float] | None = None  # fallback hardware, results marked degraded

    @property
    def gives_up(self) -> bool:
        return self.rung is Rung.GIVE_UP


class RecoveryStrategy(Protocol):
    """One rung: whether it applies to a failure, and the action it proposes."""

    name: str
    rung: Rung
    max_uses: int

    def propose(self, failure: Failure, context: RecoveryContext) -> RecoveryAction | None:
        """An action, or None when this strategy cannot help here."""


@dataclass(frozen=True)
class SuccessRate:
    """How often a strategy recovered this error kind on this hardware recently."""

    successes: int
    attempts: int

    @property
    def rate(self) -> float:
        return self.successes / self.attempts if self.attempts else 0.0


class RecoveryLadder:
    """Chooses the next rung: default order, reordered by recent success when history exists."""

    def __init__(self, strategies: Sequence[RecoveryStrategy]):
        if not any(s.rung is Rung.GIVE_UP for s in strategies):
            raise ValueError("a recovery ladder needs a give-up strategy as its last rung")
        self.strategies = sorted(strategies, key=lambda s: (s.rung, s.name))

    def decide(
        self,
        failure: Failure,
        context: RecoveryContext,
        history: Mapping[str, SuccessRate] | None = None,
    ) -> RecoveryAction:
        """The next action for `failure`; giving up when nothing else applies."""
        for strategy in self._ordered(history or {}):
            if strategy.rung is not Rung.GIVE_UP and not failure.recoverable:
                continue
            used = context.used.get(strategy.rung, 0)
            if strategy.rung is not Rung.GIVE_UP and used >= strategy.max_uses:
                continue
            action = strategy.propose(failure, context)
            if action is not None:
                return action
        raise AssertionError("the give-up strategy always proposes an action")

    def _ordered(self, history: Mapping[str, SuccessRate]) -> list[RecoveryStrategy]:
        def key(strategy: RecoveryStrategy) -> tuple[int, float, int, str]:
            if strategy.rung is Rung.GIVE_UP:
                return (1, 0.0, strategy.rung, strategy.name)
            seen = history.get(strategy.name)
            rate = seen.rate if seen and seen.attempts >= MIN_SAMPLES_TO_ADAPT else -1.0
            # Proven strategies first, best rate first; unproven ones keep the default order.
            return (0, -rate if rate >= 0 else 1.0, strategy.rung, strategy.name)

        return sorted(self.strategies, key=key)
