"""Circuit breakers per worker and per hardware class: closed, open, half-open; pure."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

WORKER_SCOPE = "worker"
HARDWARE_SCOPE = "hardware"


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class CircuitPolicy:
    """Open after `threshold` infrastructure failures within `window` seconds; probe after
    `cooldown` seconds with one shard; close again when the probe succeeds.

    `spread` is for breakers whose subject has several workers (a hardware class): the
    share of its workers that must be among the recent failures before it opens, so one
    broken machine opens its own breaker, not its whole class. 0 means any one worker.
    With `reset_on_success`, a success while closed forgets the failures: a class that
    still runs shards somewhere is not broken, whatever its workers' separate faults.
    """

    threshold: int = 3
    window: float = 600.0
    cooldown: float = 300.0
    spread: float = 0.0
    reset_on_success: bool = False

    def sources_needed(self, members: int) -> int:
        """How many distinct failing workers open a breaker over `members` workers."""
        if self.spread <= 0:
            return 0
        return max(1, math.ceil(self.spread * max(members, 1) - 1e-9))


# A hardware class opens only when every worker that offers it has failed recently, with
# no shard of the class succeeding in between.
HARDWARE_POLICY = CircuitPolicy(spread=1.0, reset_on_success=True)
# The policies campaigns use, by scope (what `dtf cluster status` judges stored states by).
POLICIES = {WORKER_SCOPE: CircuitPolicy(), HARDWARE_SCOPE: HARDWARE_POLICY}


@dataclass(frozen=True)
class Circuit:
    """The breaker of one subject (a worker name or a hardware class)."""

    scope: str
    subject: str
    state: CircuitState = CircuitState.CLOSED
    failures: tuple[float, ...] = field(default_factory=tuple)  # times within the window
    opened_at: float | None = None
    reason: str = ""
    # The worker of each failure ("" when unknown, e.g. after loading from the store).
    sources: tuple[str, ...] = field(default_factory=tuple)

    def current(self, now: float, policy: CircuitPolicy) -> Circuit:
        """The state as of `now`: an open circuit turns half-open after the cool-down."""
        opened = self.opened_at
        if (
            self.state is CircuitState.OPEN
            and opened is not None
            and now - opened >= policy.cooldown
        ):
            return replace(self, state=CircuitState.HALF_OPEN)
        return self

    def allows(self, now: float, policy: CircuitPolicy) -> bool:
        """Whether placement may send a shard here (a half-open circuit takes one probe)."""
        return self.current(now, policy).state is not CircuitState.OPEN

    def open_until(self, policy: CircuitPolicy) -> float | None:
        """When an open circuit turns half-open (None unless open)."""
        if self.state is not CircuitState.OPEN or self.opened_at is None:
            return None
        return self.opened_at + policy.cooldown

    def record_failure(
        self, now: float, policy: CircuitPolicy, reason: str, source: str = "", members: int = 1
    ) -> Circuit:
        """One more infrastructure failure (on worker `source`, of `members` workers)."""
        state = self.current(now, policy)
        known = state.sources + ("",) * (len(state.failures) - len(state.sources))
        recent = [(t, s) for t, s in zip(state.failures, known, strict=True)
                  if now - t <= policy.window] + [(now, source)]  # fmt: skip
        times, sources = tuple(t for t, _ in recent), tuple(s for _, s in recent)
        spread = len({s for s in sources if s}) >= policy.sources_needed(members)
        if state.state is CircuitState.HALF_OPEN or (len(recent) >= policy.threshold and spread):
            return replace(state, state=CircuitState.OPEN, failures=times, sources=sources,
                           opened_at=now, reason=reason)  # fmt: skip
        return replace(state, failures=times, sources=sources, reason=reason)

    def record_success(self, now: float, policy: CircuitPolicy) -> Circuit:
        state = self.current(now, policy)
        if state.state is CircuitState.HALF_OPEN:
            return replace(state, state=CircuitState.CLOSED, failures=(), sources=(),
                           opened_at=None, reason="probe succeeded")  # fmt: skip
        if state.state is CircuitState.CLOSED and policy.reset_on_success and state.failures:
            return replace(state, failures=(), sources=())
        return state
