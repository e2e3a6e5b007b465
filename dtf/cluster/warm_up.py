"""Dask preload (`--preload dtf.cluster.warm_up`) for dtf's scheduler and workers: imports,
in the background, the modules registered as `dtf.worker_warm_ups` entry points.

Both import the shard task's module, and with it Prefect (1.4-2.3 s), the first time a
campaign sends one: the scheduler to unpickle the task graph, the worker to run it. Done
at start-up instead, in a thread, so neither start nor registration waits for it, and a
task that comes meanwhile waits only for the rest of the import.
"""

from __future__ import annotations

import logging
import threading
from importlib.metadata import entry_points
from typing import Any

WARM_UP_GROUP = "dtf.worker_warm_ups"


def dask_setup(server: Any) -> None:
    """Called by Dask when the scheduler or a worker starts."""
    threading.Thread(target=warm_up, name="dtf-warm-up", daemon=True).start()


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
