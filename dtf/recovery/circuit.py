"""Circuit breakers per worker and per hardware class: closed, open, half-open; pure."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class CircuitPolicy:
    """Open after `threshold` infrastructure failures within `window` seconds; probe after
    `cooldown` seconds with one shard; close again when the probe succeeds."""

    threshold: int = 3
    window: float = 600.0
    cooldown: float = 300.0


@dataclass(frozen=True)
class Circuit:
    """The breaker of one subject (a worker name or a hardware class)."""

    scope: str
    subject: str
    state: CircuitState = CircuitState.CLOSED
    failures: tuple[float, ...] = field(default_factory=tuple)  # times within the window
    opened_at: float | None = None
    reason: str = ""

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

    def record_failure(self, now: float, policy: CircuitPolicy, reason: str) -> Circuit:
        state = self.current(now, policy)
        recent = (*(t for t in state.failures if now - t <= policy.window), now)
        if state.state is CircuitState.HALF_OPEN or len(recent) >= policy.threshold:
            return replace(state, state=CircuitState.OPEN, failures=recent, opened_at=now,
                           reason=reason)  # fmt: skip
        return replace(state, failures=recent, reason=reason)

    def record_success(self, now: float, policy: CircuitPolicy) -> Circuit:
        state = self.current(now, policy)
        if state.state is CircuitState.HALF_OPEN:
            return replace(state, state=CircuitState.CLOSED, failures=(), opened_at=None,
                           reason="probe succeeded")  # fmt: skip
        return state
