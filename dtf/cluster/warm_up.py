"""Dask preload (`--preload dtf.cluster.warm_up`) for dtf's scheduler and workers: imports the
modules registered as `dtf.cluster_warm_ups` entry points before the server starts serving.

A shard task's graph refers to the task, the flow that sent it, Prefect's task engine and
prefect-dask's runner: the scheduler imports them to unpickle the first such graph, the
worker to run it (about 2 s each on a 2-core VM, on the first campaign's critical path).
Imported here instead, at start-up, before the scheduler listens or the worker registers,
so no task waits for them, and no task's own imports run beside a half-done import of the
same modules in another thread.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

WARM_UP_GROUP = "dtf.cluster_warm_ups"


def dask_setup(server: Any) -> None:
    """Called by Dask as the scheduler or a worker starts."""
    warm_up()


def warm_up() -> list[str]:
    """Import every registered warm-up module; the names of those that failed, whose error
    the first task that needs them reports again."""
    failed = []
    for entry in entry_points(group=WARM_UP_GROUP):
        try:
            entry.load()
        except Exception:
            logging.getLogger(__name__).exception("warm-up import of %s failed", entry.value)
            failed.append(entry.value)
    return failed
