"""Circuit breaker state machine: closed -> open -> half-open -> closed."""

from __future__ import annotations

import pytest

from dtf.recovery.circuit import HARDWARE_POLICY, Circuit, CircuitPolicy, CircuitState

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


CLASS = CircuitPolicy(threshold=3, window=60.0, cooldown=30.0, spread=1.0)


@pytest.mark.parametrize(
    ("failures", "members", "state"),
    [
        # (time, worker) of each failure, the class's worker count -> the class breaker.
        ([(0, "a"), (1, "a"), (2, "a")], 2, CircuitState.CLOSED),  # one broken worker of two
        ([(0, "a"), (1, "b"), (2, "a")], 2, CircuitState.OPEN),  # every worker failed
        ([(0, "a"), (1, "b")], 2, CircuitState.CLOSED),  # below the threshold
        ([(0, "a"), (1, "a"), (2, "a")], 1, CircuitState.OPEN),  # the class's only worker
        ([(0, "a"), (1, "b"), (70, "a")], 2, CircuitState.CLOSED),  # b's failure expired
        ([(0, "a"), (1, "b"), (2, "c")], 4, CircuitState.CLOSED),  # d never failed
        ([(0, ""), (1, ""), (2, "a")], 1, CircuitState.OPEN),  # unknown workers do not count
        ([(0, ""), (1, ""), (2, "a")], 2, CircuitState.CLOSED),  # ...toward the spread
    ],
)
def test_a_hardware_class_opens_only_when_its_failures_span_its_workers(
    failures: list[tuple[float, str]], members: int, state: CircuitState
) -> None:
    c = Circuit("hardware", "cuda")
    for t, worker in failures:
        c = c.record_failure(t, CLASS, "harness", worker, members)
    assert c.state is state


@pytest.mark.parametrize(
    ("spread", "members", "needed"),
    [(0.0, 10, 0), (1.0, 1, 1), (1.0, 3, 3), (0.5, 3, 2), (0.5, 4, 2), (0.01, 50, 1)],
)
def test_sources_needed_by_spread(spread: float, members: int, needed: int) -> None:
    assert CircuitPolicy(spread=spread).sources_needed(members) == needed


def test_a_failed_half_open_probe_reopens_a_class_whatever_the_spread() -> None:
    c = Circuit("hardware", "cuda", CircuitState.OPEN, (0.0, 1.0, 2.0), opened_at=2.0)
    reopened = c.record_failure(40.0, CLASS, "probe failed", "a", members=5)
    assert reopened.state is CircuitState.OPEN and reopened.opened_at == 40.0
    assert c.open_until(CLASS) == 32.0 and reopened.open_until(CLASS) == 70.0
    assert reopened.record_success(70.0, CLASS).state is CircuitState.CLOSED


def test_a_success_in_between_keeps_a_class_closed_but_not_a_worker() -> None:
    # Two workers each lose a shard (say, a test that kills its worker), other shards pass.
    cls = Circuit("hardware", "cpu")
    for t, worker in ((0.0, "a"), (1.0, "b")):
        cls = cls.record_failure(t, HARDWARE_POLICY, "worker_lost", worker, members=2)
    cls = cls.record_success(2.0, HARDWARE_POLICY)
    assert cls.failures == () and cls.sources == ()
    cls = cls.record_failure(3.0, HARDWARE_POLICY, "worker_lost", "a", members=2)
    assert cls.state is CircuitState.CLOSED
    worker = Circuit("worker", "a").record_failure(0.0, POLICY, "x").record_success(1.0, POLICY)
    assert len(worker.failures) == 1  # a worker's failures stay until the window ends
