"""Worker profiles: which Dask resources each local worker advertises, real or simulated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

CPU_RESOURCE = "cpu"


@dataclass(frozen=True)
class WorkerProfile:
    """One local worker: its name, its Dask resources, and which of them are simulated."""

    name: str
    resources: Mapping[str, float]
    simulated: frozenset[str] = field(default_factory=frozenset)

    def resources_arg(self) -> str:
        return ",".join(f"{k}={v:g}" for k, v in sorted(self.resources.items()))


def default_profiles(count: int) -> list[WorkerProfile]:
    """`count` CPU workers; the first also simulates one CUDA device so GPU placement shows."""
    if count < 1:
        raise ValueError("a local cluster needs at least one worker")
    profiles = [
        WorkerProfile(f"dtf-worker-{i}", {CPU_RESOURCE: 1.0}, frozenset()) for i in range(count)
    ]
    first = profiles[0]
    profiles[0] = WorkerProfile(first.name, {CPU_RESOURCE: 1.0, "cuda": 1.0}, frozenset({"cuda"}))
    return profiles
