"""Loads recovery strategies from the `dtf.recovery_strategies` entry points (built-ins too)."""

from __future__ import annotations

from importlib.metadata import entry_points

from dtf.errors import DtfError
from dtf.recovery.ladder import RecoveryLadder, RecoveryStrategy

GROUP = "dtf.recovery_strategies"


def load_strategies() -> list[RecoveryStrategy]:
    """One instance of every registered strategy class."""
    strategies: list[RecoveryStrategy] = []
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            strategies.append(entry.load()())
        except Exception as exc:  # a broken plugin must not hide which one it was
            raise DtfError(f"recovery strategy '{entry.name}' ({entry.value}) failed to load: "
                           f"{exc}") from exc  # fmt: skip
    return strategies


def default_ladder() -> RecoveryLadder:
    return RecoveryLadder(load_strategies())
