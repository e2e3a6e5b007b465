"""What each worker's environment held for a run: one row per run, worker and lock hash."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select

from dtf.store.schema import run_environments

if TYPE_CHECKING:  # the result store writes through this module inside its transactions
    from dtf.store.results import ResultStore


def record_environment(
    conn: Connection, run_id: str, worker: str, environment: Mapping[str, Any], now: float
) -> bool:
    """Store `environment` (PreparedWorkspace.record()) unless this run already has it for
    this worker and lock hash; return whether a row was added.

    The first shard's record stands: every later shard of the run on that worker ran in the
    same cached environment, so writing it again (a retried shard, a resume) adds nothing.
    """
    lock = str(environment.get("lock_hash") or "")
    key = (run_environments.c.run_id == run_id, run_environments.c.worker == worker,
           run_environments.c.lock_hash == lock)  # fmt: skip
    if conn.execute(select(run_environments.c.run_id).where(*key)).first() is not None:
        return False
    packages = [str(p) for p in environment.get("packages", ())]
    conn.execute(insert(run_environments).values(
        run_id=run_id, worker=worker, lock_hash=lock, sha=environment.get("sha") or None,
        python=str(environment.get("python_version") or ""),
        platform=str(environment.get("platform") or ""),
        packages=json.dumps(packages), recorded_at=now,
    ))  # fmt: skip
    return True


def environments_of(store: ResultStore, run_id: str) -> list[dict[str, Any]]:
    """The run's environments, one per worker and lock hash, with `packages` as a list."""
    query = (
        select(run_environments)
        .where(run_environments.c.run_id == run_id)
        .order_by(run_environments.c.worker, run_environments.c.lock_hash)
    )
    with store.transaction() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    for row in rows:
        row["packages"] = json.loads(str(row["packages"] or "[]"))
    return rows
