"""Who is running this shard: the Dask worker's name, resources and simulated hardware."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from dtf.cluster.local import WORKER_ENV


@dataclass(frozen=True)
class WorkerIdentity:
    """The worker a shard runs on."""

    name: str
    resources: Mapping[str, float] = field(default_factory=dict)
    simulated: frozenset[str] = field(default_factory=frozenset)

    def resources_text(self) -> str:
        return ",".join(f"{k}={v:g}" for k, v in sorted(self.resources.items()))

    def simulates_any(self, needs: Mapping[str, float]) -> bool:
        return any(name in self.simulated for name in needs)


def current_worker() -> WorkerIdentity:
    """The Dask worker this code runs in, or this host when it runs outside Dask."""
    profile = json.loads(os.environ.get(WORKER_ENV) or "{}")
    try:
        from distributed import get_worker

        worker = get_worker()
        name = str(worker.name)
        resources = dict(worker.state.total_resources)
    except ValueError:  # not inside a Dask worker
        name = profile.get("name") or socket.gethostname()
        resources = dict(profile.get("resources", {}))
    return WorkerIdentity(name, resources, frozenset(profile.get("simulated", [])))
