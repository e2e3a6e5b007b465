"""How the CLI starts a campaign without importing Prefect: a launcher found by entry point."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from dtf.errors import DtfError

LAUNCHER_GROUP = "dtf.launchers"
_AFTER_COMMAND: list[Callable[[], None]] = []


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


def after_command(action: Callable[[], None]) -> None:
    """Have `action` run once the CLI command has ended, before its process exits.

    dtf's CLI and a warm launcher's child end with os._exit, which runs no atexit hook; in a
    warm child this runs after the client has its exit code, so its shell waits for none of
    it. An action registered again is still run once.
    """
    if action not in _AFTER_COMMAND:
        _AFTER_COMMAND.append(action)


def run_after_command() -> None:
    """Run what after_command registered, in order, and forget it; a failure is printed."""
    while _AFTER_COMMAND:
        action = _AFTER_COMMAND.pop(0)
        try:
            action()
        except Exception:  # one action failing must not keep the others from running
            traceback.print_exc()
