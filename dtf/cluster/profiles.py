"""Worker profiles: which Dask resources each local worker advertises, real or simulated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dtf.hardware.browsers import find_browsers, find_driver
from dtf.hardware.model import Taxonomy
from dtf.hardware.resources import resources_arg

CPU_RESOURCE = "cpu"


@dataclass(frozen=True)
class WorkerProfile:
    """One local worker: its name, its Dask resources, and which of them are simulated.

    `taxonomy`, when set, is published to the scheduler (a fleet profile's simulated
    hardware); `nthreads` is the worker's thread count.
    """

    name: str
    resources: Mapping[str, float]
    simulated: frozenset[str] = field(default_factory=frozenset)
    taxonomy: Taxonomy | None = None
    nthreads: int = 1

    def resources_arg(self) -> str:
        return resources_arg(self.resources)


def default_profiles(count: int, browsers: Sequence[str] = ()) -> list[WorkerProfile]:
    """`count` CPU workers; the first also simulates one CUDA device so GPU placement shows.

    Each browser kind in `browsers` (found with its driver on this machine, see
    `local_browsers`) is offered by the last worker as `browser_<kind>=1`: real, not simulated.
    """
    if count < 1:
        raise ValueError("a local cluster needs at least one worker")
    profiles = [
        WorkerProfile(f"dtf-worker-{i}", {CPU_RESOURCE: 1.0}, frozenset()) for i in range(count)
    ]
    first = profiles[0]
    profiles[0] = WorkerProfile(first.name, {CPU_RESOURCE: 1.0, "cuda": 1.0}, frozenset({"cuda"}))
    last = profiles[-1]
    offered = {**last.resources, **{f"browser_{kind}": 1.0 for kind in browsers}}
    profiles[-1] = WorkerProfile(last.name, offered, last.simulated)
    return profiles


def local_browsers() -> list[str]:
    """Browser kinds this machine can drive (binary and driver found; not probed)."""
    return [kind for kind, _ in find_browsers() if find_driver(kind) is not None]
