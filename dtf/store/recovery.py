"""Stores recovery events and circuit states, and the per-strategy success history."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, delete, func, insert, select, update

from dtf.recovery.circuit import WORKER_SCOPE, Circuit, CircuitState
from dtf.recovery.ladder import SuccessRate
from dtf.store.results import ResultStore
from dtf.store.schema import circuit_states, recovery_events

HISTORY_EVENTS = 200


def record_event(store: ResultStore, **row: Any) -> None:
    """Insert one recovery event (idempotent on event_id)."""
    with store.transaction() as conn:
        conn.execute(delete(recovery_events).where(recovery_events.c.event_id == row["event_id"]))
        conn.execute(insert(recovery_events).values(occurred_at=time.time(), **row))


def settle_event(store: ResultStore, event_id: str, outcome: str) -> None:
    """Mark whether the attempt a recovery launched succeeded ('recovered') or not ('failed')."""
    with store.transaction() as conn:
        conn.execute(
            update(recovery_events)
            .where(recovery_events.c.event_id == event_id)
            .values(outcome=outcome)
        )


def strategy_history(store: ResultStore, kind: str, hardware: str) -> dict[str, SuccessRate]:
    """Recent outcomes of each strategy for this error kind on this hardware."""
    recent = (
        select(recovery_events.c.strategy, recovery_events.c.outcome)
        .where(
            recovery_events.c.error_class == kind,
            recovery_events.c.hardware == hardware,
            recovery_events.c.outcome.in_(["recovered", "failed"]),
        )
        .order_by(recovery_events.c.occurred_at.desc())
        .limit(HISTORY_EVENTS)
        .subquery()
    )
    query = select(
        recent.c.strategy,
        func.sum(case((recent.c.outcome == "recovered", 1), else_=0)),
        func.count(),
    ).group_by(recent.c.strategy)
    with store.transaction() as conn:
        return {s: SuccessRate(int(ok or 0), int(n)) for s, ok, n in conn.execute(query)}


def events_of(store: ResultStore, run_id: str) -> list[dict[str, Any]]:
    query = (
        select(recovery_events)
        .where(recovery_events.c.run_id == run_id)
        .order_by(recovery_events.c.occurred_at)
    )
    with store.transaction() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def recovery_stats(store: ResultStore) -> list[dict[str, Any]]:
    """Success table by error kind, hardware and strategy (for `dtf recovery stats`)."""
    query = (
        select(
            recovery_events.c.error_class,
            recovery_events.c.hardware,
            recovery_events.c.strategy,
            func.count().label("attempts"),
            func.sum(case((recovery_events.c.outcome == "recovered", 1), else_=0)).label("ok"),
        )
        .group_by(
            recovery_events.c.error_class, recovery_events.c.hardware, recovery_events.c.strategy
        )
        .order_by(
            recovery_events.c.error_class, recovery_events.c.hardware, recovery_events.c.strategy
        )
    )
    with store.transaction() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def load_circuits(store: ResultStore, scope: str = WORKER_SCOPE) -> dict[str, Circuit]:
    """The stored breakers of one scope ('worker' or 'hardware'), by subject."""
    query = select(circuit_states).where(circuit_states.c.scope == scope)
    with store.transaction() as conn:
        rows = conn.execute(query).mappings().all()
    return {r["subject"]: _circuit(r) for r in rows}


def all_circuits(store: ResultStore) -> list[Circuit]:
    """Every stored breaker, workers and hardware classes, by scope then subject."""
    query = select(circuit_states).order_by(circuit_states.c.scope, circuit_states.c.subject)
    with store.transaction() as conn:
        return [_circuit(r) for r in conn.execute(query).mappings().all()]


def _circuit(row: Any) -> Circuit:
    # Only the count of recent failures is stored, not their times or workers: they reload
    # as failures at the last change, from unknown workers.
    return Circuit(
        scope=row["scope"],
        subject=row["subject"],
        state=CircuitState(row["state"]),
        failures=tuple([row["opened_at"] or row["updated_at"]] * int(row["failures"])),
        opened_at=row["opened_at"],
        reason=row["reason"],
    )


def save_circuits(store: ResultStore, circuits: Iterable[Circuit]) -> None:
    now = time.time()
    with store.transaction() as conn:
        for c in circuits:
            conn.execute(
                delete(circuit_states).where(
                    circuit_states.c.scope == c.scope, circuit_states.c.subject == c.subject
                )
            )
            conn.execute(
                insert(circuit_states).values(
                    scope=c.scope,
                    subject=c.subject,
                    state=c.state.value,
                    failures=len(c.failures),
                    opened_at=c.opened_at,
                    updated_at=now,
                    reason=c.reason,
                )
            )
