"""Classifies what went wrong: a red test is data; only infrastructure faults are recovered."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dtf.errors import (
    DiscoveryError,
    EnvironmentBuildError,
    InfrastructureError,
    PlanError,
    SourceError,
    SpecError,
)


class ErrorClass(StrEnum):
    """Failure classes; only INFRASTRUCTURE enters the recovery ladder."""

    TEST_FAILURE = "test_failure"
    TEST_ERROR = "test_error"
    CRASH = "crash"
    TIMEOUT = "timeout"
    INFRASTRUCTURE = "infrastructure"
    CONFIGURATION = "configuration"


OUTCOME_CLASSES = {
    "failed": ErrorClass.TEST_FAILURE,
    "error": ErrorClass.TEST_ERROR,
    "crashed": ErrorClass.CRASH,
    "timeout": ErrorClass.TIMEOUT,
}

# Exceptions by name, so this pure module needs neither Dask nor Prefect imported.
_WORKER_LOST = {"KilledWorker", "WorkerLostError", "CancelledError", "FutureCancelledError"}
_TRANSIENT = {
    "CommClosedError",
    "StreamClosedError",
    "TimeoutError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "BrokenPipeError",
    "OSError",
}


@dataclass(frozen=True)
class Failure:
    """One infrastructure or configuration fault of a shard attempt."""

    error_class: ErrorClass
    kind: str
    message: str
    worker: str = ""
    # What failed, as one event: a lost worker's address. Dask fails every shard queued on a
    # dead worker with its own KilledWorker; they share this, so the death is counted once.
    incident: str = ""

    @property
    def recoverable(self) -> bool:
        return self.error_class is ErrorClass.INFRASTRUCTURE


def classify_exception(exc: BaseException) -> Failure:
    """What a shard attempt's exception means; unknown exceptions count as infrastructure."""
    name = type(exc).__name__
    message = f"{name}: {exc}".strip()
    configuration = SpecError | PlanError | DiscoveryError | SourceError | EnvironmentBuildError
    if isinstance(exc, configuration):
        return Failure(ErrorClass.CONFIGURATION, "configuration", message)
    if isinstance(exc, InfrastructureError):
        kind = exc.error_class if exc.error_class != "infrastructure" else "harness"
        return Failure(ErrorClass.INFRASTRUCTURE, kind, message, exc.worker)
    if name in _WORKER_LOST:
        worker, address = _lost_worker(exc)
        incident = f"worker_lost:{address}" if address else ""
        return Failure(ErrorClass.INFRASTRUCTURE, "worker_lost", message, worker, incident)
    if name in _TRANSIENT or isinstance(exc, OSError):
        return Failure(ErrorClass.INFRASTRUCTURE, "transient", message)
    return Failure(ErrorClass.INFRASTRUCTURE, "unexpected", message)


def _lost_worker(exc: BaseException) -> tuple[str, str]:
    """The worker name and address Dask's KilledWorker carries (its second argument is a
    WorkerState); a nanny restarts a worker under the same name at a new address."""
    for arg in getattr(exc, "args", ())[1:2]:
        name = getattr(arg, "name", None)
        if name is not None:
            # With the pid: a worker given a fixed port comes back at the same address.
            address = str(getattr(arg, "address", "") or "")
            pid = getattr(arg, "pid", None)
            return str(name), f"{address}#{pid}" if address and pid else address
    return "", ""
