"""Reads the live fleet from a Dask scheduler: each worker's resources, load and hardware."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from distributed import Client
from distributed.security import Security
from pydantic import ValidationError

from dtf.cluster.publish import HARDWARE_KEY, SIMULATED_KEY
from dtf.errors import ClusterError
from dtf.hardware.model import Taxonomy


@dataclass(frozen=True)
class WorkerInfo:
    """A worker as the scheduler sees it.

    `hardware` is the taxonomy the worker published (None for a worker started without
    dtf's preload, or by an incompatible dtf); `simulated` names the resources it only
    pretends to have (a rehearsal fleet); `processing` counts the tasks assigned to it
    that have not finished.
    """

    name: str
    address: str
    resources: dict[str, float] = field(default_factory=dict)
    nthreads: int = 0
    processing: int = 0
    hardware: Taxonomy | None = None
    simulated: tuple[str, ...] | None = None  # resource names; None when not published


def live_workers(
    address: str, timeout: float = 10.0, security: Security | None = None
) -> list[WorkerInfo]:
    """The workers connected to the scheduler at `address` now."""
    if address.startswith("tls://") and security is None:
        security = _configured_security(address)
    try:
        with Client(  # type: ignore[no-untyped-call]
            address, timeout=timeout, set_as_default=False, security=security
        ) as client:
            return workers_of(client)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc


def workers_of(client: Client) -> list[WorkerInfo]:
    """The workers connected now to the scheduler of an open `client` (no new connection)."""
    try:
        info = client.scheduler_info(n_workers=-1)
        processing = client.processing()  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        address = getattr(client.scheduler, "address", "?")
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    workers = [
        _worker(addr, w, len(processing.get(addr, ())))
        for addr, w in info.get("workers", {}).items()
    ]
    return sorted(workers, key=lambda w: w.name)


def _configured_security(address: str) -> Security:
    # The flow reads the fleet with no Security object of its own: take Dask's TLS settings
    # (DASK_DISTRIBUTED__COMM__TLS__CA_FILE, __CLIENT__CERT, __CLIENT__KEY), the same ones
    # DaskTaskRunner's client uses, rather than fail with distributed's TypeError.
    security = Security()  # type: ignore[no-untyped-call]
    if not (getattr(security, "tls_ca_file", None) and getattr(security, "tls_client_cert", None)):
        raise ClusterError(
            f"{address} is a TLS scheduler: reading it needs the CA file, a certificate and "
            f"its key (--tls-ca-file/--tls-cert/--tls-key, or Dask's distributed.comm.tls "
            f"settings)"
        )
    return security


def _worker(address: str, seen: Mapping[str, Any], processing: int) -> WorkerInfo:
    return WorkerInfo(
        name=str(seen.get("name", address)),
        address=address,
        resources={k: float(v) for k, v in (seen.get("resources") or {}).items()},
        nthreads=int(seen.get("nthreads") or 0),
        processing=processing,
        hardware=_taxonomy(seen.get(HARDWARE_KEY)),
        simulated=_names(seen.get(SIMULATED_KEY)),
    )


def _names(published: Any) -> tuple[str, ...] | None:
    # msgpack hands lists back as tuples
    return tuple(str(n) for n in published) if isinstance(published, list | tuple) else None


def _taxonomy(published: Any) -> Taxonomy | None:
    if not isinstance(published, dict):
        return None
    try:
        return Taxonomy.model_validate(published)
    except ValidationError:
        return None  # published by another dtf version; resources still place correctly
