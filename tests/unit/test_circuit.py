"""Circuit breaker state machine: closed -> open -> half-open -> closed."""

from __future__ import annotations

from dtf.recovery.circuit import Circuit, CircuitPolicy, CircuitState

POLICY = CircuitPolicy(threshold=3, window=60.0, cooldown=30.0)


def test_opens_after_threshold_failures_within_the_window() -> None:
    c = Circuit("worker", "w1")
    for t in (0.0, 10.0):
        c = c.record_failure(t, POLICY, "boom")
        assert c.state is CircuitState.CLOSED
    c = c.record_failure(20.0, POLICY, "boom")
    assert c.state is CircuitState.OPEN and not c.allows(21.0, POLICY)


def test_failures_outside_the_window_are_forgotten() -> None:
    c = Circuit("worker", "w1")
    for t in (0.0, 10.0, 100.0):
        c = c.record_failure(t, POLICY, "boom")
    assert c.state is CircuitState.CLOSED and c.failures == (100.0,)


def test_half_open_after_cooldown_then_a_probe_decides() -> None:
    c = Circuit("worker", "w1", CircuitState.OPEN, (0.0, 1.0, 2.0), opened_at=2.0)
    assert c.current(31.0, POLICY).state is CircuitState.OPEN
    assert c.current(32.0, POLICY).state is CircuitState.HALF_OPEN and c.allows(32.0, POLICY)
    closed = c.record_success(33.0, POLICY)
    assert closed.state is CircuitState.CLOSED and closed.failures == ()
    reopened = c.record_failure(33.0, POLICY, "probe failed")
    assert reopened.state is CircuitState.OPEN and reopened.opened_at == 33.0


def test_success_on_a_closed_circuit_changes_nothing() -> None:
    c = Circuit("worker", "w1").record_failure(0.0, POLICY, "x")
    assert c.record_success(1.0, POLICY) == c
