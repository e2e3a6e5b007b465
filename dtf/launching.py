"""How the CLI starts a campaign without importing Prefect: a launcher found by entry point."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from dtf.errors import DtfError

LAUNCHER_GROUP = "dtf.launchers"


@dataclass(frozen=True)
class LaunchRequest:
    """One campaign run the CLI asks for."""

    target: str
    run_id: str
    scheduler_address: str
    keyword: str | None = None
    marker: str | None = None
    limits: Mapping[str, float] = field(default_factory=dict)
    trigger: str = "cli"
    resume: bool = False
    matrix: Mapping[str, str] = field(default_factory=dict)
    campaign: str = ""  # the campaign's name, for the flow run's tags
    runs: int = 0  # the verify-quarantine launcher: how many times each quarantined test runs


@dataclass(frozen=True)
class LaunchResult:
    """The final state of the flow run; the verdict itself is in the store.

    The verify-quarantine launcher puts its report (released and kept patterns) in `message`,
    as JSON, when the flow completes.
    """

    run_id: str
    state: str
    message: str


Launcher = Callable[[LaunchRequest], LaunchResult]


def load_launcher(name: str = "prefect") -> Launcher:
    """The launcher registered under `name` in the `dtf.launchers` entry-point group."""
    for entry in entry_points(group=LAUNCHER_GROUP):
        if entry.name == name:
            launcher: Launcher = entry.load()
            return launcher
    raise DtfError(f"no dtf launcher named '{name}' is installed (entry points {LAUNCHER_GROUP})")
