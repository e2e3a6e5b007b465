"""Dask worker preload (`--preload dtf.cluster.publish`): publishes what the worker has.

It attaches to the worker's registration (Worker.startup_information), so the scheduler
lists the information with the worker from its first moment: `Client.scheduler_info()`
shows the taxonomy under "dtf_hardware" and the simulated resources under
"dtf_simulated"; dtf.cluster.fleet reads both back. Imports stay light: every local
worker loads this module.
"""

from __future__ import annotations

import json
import os
from typing import Any

TAXONOMY_ENV = "DTF_HARDWARE_TAXONOMY"
WORKER_ENV = "DTF_WORKER_PROFILE"
HARDWARE_KEY = "dtf_hardware"
SIMULATED_KEY = "dtf_simulated"


def dask_setup(worker: Any) -> None:
    """Called by Dask on worker start, before the worker registers with the scheduler."""
    if not hasattr(worker, "startup_information"):
        return  # loaded into a nanny (--preload-nanny): only workers register resources
    for key, value in published().items():
        worker.startup_information[key] = lambda _worker, value=value: value


def published() -> dict[str, Any]:
    """What this worker publishes: the simulated resource names and the taxonomy."""
    out: dict[str, Any] = {}
    profile = _json_env(WORKER_ENV)
    if profile is not None:
        out[SIMULATED_KEY] = sorted(profile.get("simulated", []))
    taxonomy = _json_env(TAXONOMY_ENV)
    if taxonomy is None and profile is None:
        # A bare `dask worker --preload dtf.cluster.publish`: detect here, without the slow
        # browser probe. `dtf worker` detects before starting Dask and passes the result.
        from dtf.hardware.detect import detect

        taxonomy = detect(browsers=False).model_dump(mode="json")
    if taxonomy is not None:
        out[HARDWARE_KEY] = taxonomy
    return out


def _json_env(name: str) -> dict[str, Any] | None:
    try:
        data = json.loads(os.environ.get(name) or "null")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
