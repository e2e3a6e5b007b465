"""Reads the live fleet from a Dask scheduler: each worker's name and resources."""

from __future__ import annotations

from dataclasses import dataclass, field

from distributed import Client

from dtf.errors import ClusterError


@dataclass(frozen=True)
class WorkerInfo:
    """A worker as the scheduler sees it."""

    name: str
    address: str
    resources: dict[str, float] = field(default_factory=dict)


def live_workers(address: str, timeout: float = 10.0) -> list[WorkerInfo]:
    """The workers connected to the scheduler at `address` now."""
    try:
        with Client(address, timeout=timeout, set_as_default=False) as client:  # type: ignore[no-untyped-call]
            info = client.scheduler_info(n_workers=-1)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    return sorted(
        (
            WorkerInfo(
                name=str(w.get("name", addr)),
                address=addr,
                resources={k: float(v) for k, v in (w.get("resources") or {}).items()},
            )
            for addr, w in info.get("workers", {}).items()
        ),
        key=lambda w: w.name,
    )
