"""The publication outbox: record a delivery first, send it, then mark it sent with its ref."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from dtf.store.results import ResultStore
from dtf.store.schema import outbox

PENDING = "pending"
SENT = "sent"


@dataclass(frozen=True)
class OutboxRow:
    """One recorded delivery and where it stands."""

    delivery_id: str
    run_id: str
    publisher: str
    target: str
    payload: Mapping[str, Any]
    status: str
    attempts: int
    remote_ref: str
    last_error: str

    @property
    def name(self) -> str:
        """The campaign's name for this publisher (several may share one kind)."""
        return str(self.payload.get("name") or self.publisher)


@dataclass(frozen=True)
class NewDelivery:
    """A delivery to record: its idempotency key, publisher kind, target and payload."""

    delivery_id: str
    run_id: str
    publisher: str
    target: str
    payload: Mapping[str, Any]


class Outbox:
    """Outbox rows in the results store (table `outbox`, migration 0002)."""

    def __init__(self, store: ResultStore):
        self.store = store

    def record(self, deliveries: Iterable[NewDelivery]) -> int:
        """Insert the deliveries not yet recorded; returns how many were new.

        A delivery already in the outbox is left as it is (pending or sent): recording the
        same run's publications again never duplicates them.
        """
        wanted = {d.delivery_id: d for d in deliveries}
        if not wanted:
            return 0
        now = time.time()
        with self.store.transaction() as conn:
            known = set(
                conn.execute(
                    select(outbox.c.delivery_id).where(outbox.c.delivery_id.in_(list(wanted)))
                ).scalars()
            )
            # Microsecond steps keep the plan's order (a Slack summary before its thread).
            new = [d for k, d in wanted.items() if k not in known]
            rows = [_insert_row(d, now + i * 1e-6) for i, d in enumerate(new)]
            if rows:
                conn.execute(outbox.insert(), rows)
        return len(rows)

    def pending(self, run_id: str | None = None) -> list[OutboxRow]:
        """Pending deliveries (of one run, or all), oldest first."""
        query = select(outbox).where(outbox.c.status == PENDING)
        if run_id is not None:
            query = query.where(outbox.c.run_id == run_id)
        return self._rows(query.order_by(outbox.c.created_at, outbox.c.delivery_id))

    def rows(self, run_id: str | None = None) -> list[OutboxRow]:
        query = select(outbox)
        if run_id is not None:
            query = query.where(outbox.c.run_id == run_id)
        return self._rows(query.order_by(outbox.c.created_at, outbox.c.delivery_id))

    def get(self, delivery_id: str) -> OutboxRow | None:
        found = self._rows(select(outbox).where(outbox.c.delivery_id == delivery_id))
        return found[0] if found else None

    def remote_ref(self, delivery_id: str) -> str | None:
        """The target's reference of a sent delivery; None while it is pending."""
        row = self.get(delivery_id)
        return row.remote_ref if row is not None and row.status == SENT else None

    def mark_sent(self, delivery_id: str, remote_ref: str, attempts: int) -> None:
        now = time.time()
        self._update(
            delivery_id,
            attempts,
            status=SENT,
            remote_ref=remote_ref,
            sent_at=now,
            last_error="",
            updated_at=now,
        )

    def mark_failed(self, delivery_id: str, error: str, attempts: int) -> None:
        """Keep the row pending with the last error (already free of secrets)."""
        self._update(delivery_id, attempts, last_error=error, updated_at=time.time())

    def _update(self, delivery_id: str, attempts: int, **values: Any) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.delivery_id == delivery_id)
                .values(attempts=outbox.c.attempts + attempts, **values)
            )

    def _rows(self, query: Any) -> list[OutboxRow]:
        with self.store.transaction() as conn:
            found = [dict(r) for r in conn.execute(query).mappings()]
        return [
            OutboxRow(
                delivery_id=r["delivery_id"],
                run_id=r["run_id"],
                publisher=r["publisher"],
                target=r["target"],
                payload=json.loads(r["payload"] or "{}"),
                status=r["status"],
                attempts=int(r["attempts"] or 0),
                remote_ref=r["remote_ref"] or "",
                last_error=r["last_error"] or "",
            )
            for r in found
        ]


def _insert_row(delivery: NewDelivery, now: float) -> dict[str, Any]:
    return {
        "delivery_id": delivery.delivery_id,
        "run_id": delivery.run_id,
        "publisher": delivery.publisher,
        "target": delivery.target,
        "payload": json.dumps(dict(delivery.payload), sort_keys=True),
        "status": PENDING,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
        "sent_at": None,
        "remote_ref": "",
        "last_error": "",
    }
