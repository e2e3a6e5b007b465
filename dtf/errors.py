"""The one error tree dtf raises; adapters translate third-party errors into it."""

from __future__ import annotations


class DtfError(Exception):
    """Base of every error dtf reports to a user: the message is meant to be read as is."""

    exit_code = 2


class SpecError(DtfError):
    """A campaign file is missing, unparsable or invalid; names file, line and field."""

    def __init__(
        self, source: str, message: str, line: int | None = None, field: str | None = None
    ):
        self.source = source
        self.line = line
        self.field = field
        where = source if line is None else f"{source}:{line}"
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}: {what}{message}")


class PlanError(DtfError):
    """The campaign cannot be planned (cycle, unknown dependency, empty selection)."""


class PlacementError(PlanError):
    """A shard needs hardware that no worker of the live fleet offers."""


class DiscoveryError(DtfError):
    """Collecting the tests of a suite failed before any test could be listed."""


class StoreError(DtfError):
    """The results store cannot be opened, migrated, read or written."""


class ServiceError(DtfError):
    """A service dtf manages or needs (Prefect server, Dask cluster) is unreachable or failed."""


class ServerError(ServiceError):
    """The Prefect server could not be started or reached."""


class ClusterError(ServiceError):
    """The Dask scheduler or its workers could not be started or reached."""


class InfrastructureError(DtfError):
    """A fault of the machinery, not of the tests: worker lost, harness failure, checkout failure.

    Only these enter the recovery ladder; a red test is a result, never an exception.
    """

    def __init__(self, message: str, error_class: str = "infrastructure", worker: str = ""):
        self.error_class = error_class
        self.worker = worker
        super().__init__(message)

    def __reduce__(self) -> tuple[type[InfrastructureError], tuple[str, str, str]]:
        # Raised on Dask workers and unpickled in the flow: keep every field across the wire.
        return (type(self), (str(self), self.error_class, self.worker))


class HardwareError(DtfError):
    """A hardware description given by a user (resources, a fleet profile) is invalid.

    Detection itself never raises: a probe that fails reports its component absent.
    """


class ValidationGateError(DtfError):
    """The validation gate could not run (its data or Great Expectations failed).

    A failed expectation is not this error: it is a result the gate reports.
    """


class PublishError(DtfError):
    """A delivery to a publishing target failed; `transient` says a later retry may succeed.

    `retry_after` is the wait in seconds the target asked for (HTTP 429 Retry-After), if any.
    Messages never carry secrets: adapters build them from status codes and URLs only.
    """

    def __init__(self, message: str, *, transient: bool = False, retry_after: float | None = None):
        self.transient = transient
        self.retry_after = retry_after
        super().__init__(message)


class SourceError(DtfError):
    """The campaign's source cannot be used as given: an unknown ref or commit, a bad URL.

    A configuration fault: another worker would fail the same way, so the campaign fails
    early with git's own message instead of retrying.
    """


class EnvironmentBuildError(DtfError):
    """The campaign's environment cannot be built: a requirement that does not resolve, a
    missing requirements file, no pytest in it. A configuration fault, with uv's message.
    """
