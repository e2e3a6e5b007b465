"""Builds the `dask worker` command that `dtf worker` becomes: detected resources, TLS, preload."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from distributed.security import Security

from dtf.cluster.publish import TAXONOMY_ENV, WORKER_ENV
from dtf.cluster.quiet import quiet_dask_env
from dtf.errors import ClusterError
from dtf.hardware.model import Taxonomy
from dtf.hardware.resources import derive_resources, merge_resources, resources_arg


@dataclass(frozen=True)
class TlsFiles:
    """Mutual TLS for distributed: the CA that signs every member, and this member's pair."""

    ca_file: Path
    cert: Path
    key: Path

    @classmethod
    def from_options(
        cls, ca_file: Path | None, cert: Path | None, key: Path | None
    ) -> TlsFiles | None:
        given = [p for p in (ca_file, cert, key) if p is not None]
        if not given:
            return None
        if ca_file is None or cert is None or key is None:
            raise ClusterError("TLS needs all three of --tls-ca-file, --tls-cert and --tls-key")
        for path in (ca_file, cert, key):
            if not path.is_file():
                raise ClusterError(f"TLS file {path} does not exist")
        return cls(ca_file, cert, key)

    def dask_args(self) -> list[str]:
        return ["--tls-ca-file", str(self.ca_file), "--tls-cert", str(self.cert),
                "--tls-key", str(self.key)]  # fmt: skip

    def security(self) -> Security:
        """Client-side security for reading a TLS scheduler (e.g. `dtf cluster status`)."""
        return Security(  # type: ignore[no-untyped-call]
            tls_ca_file=str(self.ca_file),
            tls_client_cert=str(self.cert),
            tls_client_key=str(self.key),
            require_encryption=True,
        )


@dataclass(frozen=True)
class ListenOptions:
    """Where a worker listens: the scheduler connects back to it, so across hosts (and
    firewalls) the address and ports must be reachable from the scheduler."""

    host: str | None = None
    worker_port: str | None = None  # a port or a range "9000:9100"
    nanny_port: str | None = None

    def dask_args(self) -> list[str]:
        pairs = (("--host", self.host), ("--worker-port", self.worker_port),
                 ("--nanny-port", self.nanny_port))  # fmt: skip
        return [arg for flag, value in pairs if value for arg in (flag, value)]


@dataclass(frozen=True)
class WorkerLaunch:
    """The exact command and environment of one `dtf worker`, and what it advertises."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)


def worker_launch(
    scheduler: str,
    taxonomy: Taxonomy,
    *,
    overrides: Mapping[str, float] | None = None,
    name: str | None = None,
    nthreads: int | None = None,
    tls: TlsFiles | None = None,
    local_directory: Path | None = None,
    listen: ListenOptions | None = None,
) -> WorkerLaunch:
    """A `dask worker` command advertising the taxonomy's resources (plus `overrides`)."""
    check_scheme(scheduler, tls)
    resources = merge_resources(derive_resources(taxonomy), overrides or {})
    worker_name = name or socket.gethostname()
    argv = [
        sys.executable, "-m", "distributed.cli.dask_worker", scheduler,
        "--name", worker_name, "--nworkers", "1", "--resources", resources_arg(resources),
        "--preload", "dtf.cluster.publish", "--preload", "dtf.cluster.warm_up",
    ]  # fmt: skip
    if nthreads is not None:
        argv += ["--nthreads", str(nthreads)]
    if local_directory is not None:
        argv += ["--local-directory", str(local_directory)]
    if tls is not None:
        argv += tls.dask_args()
    if listen is not None:
        argv += listen.dask_args()
    profile = {"name": worker_name, "resources": resources, "simulated": []}
    env = {**quiet_dask_env(os.environ), TAXONOMY_ENV: taxonomy.model_dump_json(),
           WORKER_ENV: json.dumps(profile)}  # fmt: skip
    return WorkerLaunch(argv, env, resources)


def check_scheme(scheduler: str, tls: TlsFiles | None) -> None:
    """A tls:// scheduler needs TLS files and TLS files need a tls:// scheduler."""
    scheme = scheduler.split("://", 1)[0] if "://" in scheduler else "tcp"
    if tls is not None and scheme != "tls":
        raise ClusterError(f"TLS files were given, so the scheduler address must be "
                           f"tls://HOST:PORT, not {scheduler}")  # fmt: skip
    if tls is None and scheme == "tls":
        raise ClusterError(f"{scheduler} is a TLS scheduler: pass --tls-ca-file, --tls-cert "
                           f"and --tls-key")  # fmt: skip


def exec_worker(launch: WorkerLaunch) -> NoReturn:
    """Become the Dask worker: same pid, so a supervisor's signals reach Dask directly."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(launch.argv[0], launch.argv, {**os.environ, **launch.env})
