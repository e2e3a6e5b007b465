"""Stores quarantines: add, release, and the active ones a campaign's verdict respects."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import and_, delete, insert, select, update

from dtf.quarantine import QuarantineEntry
from dtf.store.results import ResultStore
from dtf.store.schema import quarantine


def add_quarantine(store: ResultStore, entry: QuarantineEntry) -> None:
    """Quarantine a pattern for a campaign; adding it again replaces the earlier entry."""
    with store.transaction() as conn:
        conn.execute(
            delete(quarantine).where(
                quarantine.c.campaign == entry.campaign, quarantine.c.test_id == entry.pattern
            )
        )
        conn.execute(
            insert(quarantine).values(
                campaign=entry.campaign,
                test_id=entry.pattern,
                reason=entry.reason,
                owner_issue=entry.owner_issue,
                added_at=entry.added_at,
                expires_at=entry.expires_at,
                hardware=entry.hardware or None,
            )
        )


def release_quarantine(
    store: ResultStore, campaign: str, pattern: str, note: str | None = None
) -> bool:
    """Lift a quarantine (its history stays); False when there was none active.

    `note` says why it was lifted; it is appended to the entry's reason, which keeps it.
    """
    values: dict[str, Any] = {"released_at": time.time()}
    if note:
        values["reason"] = quarantine.c.reason + f" [released: {note}]"
    with store.transaction() as conn:
        done = conn.execute(
            update(quarantine)
            .where(
                quarantine.c.campaign == campaign,
                quarantine.c.test_id == pattern,
                quarantine.c.released_at.is_(None),
            )
            .values(**values)
        )
    return bool(done.rowcount)


def quarantines(
    store: ResultStore, campaign: str | None = None, *, include_released: bool = False
) -> list[QuarantineEntry]:
    """Quarantines not yet released (expired ones included: callers check `active`)."""
    query = select(quarantine).order_by(quarantine.c.campaign, quarantine.c.test_id)
    conditions = []
    if campaign is not None:
        conditions.append(quarantine.c.campaign == campaign)
    if not include_released:
        conditions.append(quarantine.c.released_at.is_(None))
    if conditions:
        query = query.where(and_(*conditions))
    with store.transaction() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        QuarantineEntry(
            campaign=r["campaign"],
            pattern=r["test_id"],
            reason=r["reason"],
            owner_issue=r["owner_issue"],
            added_at=r["added_at"],
            expires_at=r["expires_at"],
            hardware=r["hardware"],
            released_at=r["released_at"],
        )
        for r in rows
    ]


def active_quarantines(store: ResultStore, campaign: str) -> list[QuarantineEntry]:
    """The campaign's quarantines in force now: not released, not expired."""
    now = time.time()
    return [e for e in quarantines(store, campaign) if e.active(now)]
