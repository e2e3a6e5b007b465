"""Prepares Prefect in the warm launcher, and again in each child it forks for a client."""

from __future__ import annotations

import copy
import os
import string
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dask.config
import prefect.settings
from prefect.context import refresh_global_settings_context
from prefect.logging import configuration
from prefect.logging.configuration import setup_logging
from prefect.settings import PREFECT_LOGGING_SETTINGS_PATH
from prefect.settings.legacy import Setting

# Prefect's logging configuration as the launcher loaded it, and what it was loaded from.
_LAUNCHER_LOGGING: tuple[tuple[Any, ...], dict[str, Any]] | None = None


def preload_logging_config() -> None:
    """In the warm launcher: load Prefect's logging configuration once, for its children.

    Loading it renders every Prefect setting as an environment variable to fill the file's
    template (0.07-0.13 s); a child whose settings give the same template values and the same
    PREFECT_LOGGING_* overrides gets the same configuration, so it takes a copy of this one.
    """
    global _LAUNCHER_LOGGING
    path = _logging_settings_path()
    key = _logging_key(path)
    if key is not None:
        _LAUNCHER_LOGGING = (key, configuration.load_logging_config(path))


def refresh_after_fork() -> None:
    """In a warm launcher's child: read settings from the client's environment again.

    Prefect and Dask read their settings (PREFECT_*, DASK_*) when imported, in the launcher;
    the child must run with the client's, and log to the client's stderr.
    """
    refresh_global_settings_context()
    with _launcher_logging_config():
        setup_logging(incremental=False)
    dask.config.refresh()


@contextmanager
def _launcher_logging_config() -> Iterator[None]:
    """While Prefect sets up logging, its configuration comes from the launcher when that
    one was loaded from the same inputs; otherwise Prefect loads it as always."""
    original = configuration.load_logging_config

    def load(path: Path) -> dict[str, Any]:
        if _LAUNCHER_LOGGING is not None and _LAUNCHER_LOGGING[0] == _logging_key(path):
            # dictConfig consumes parts of the dict it is given (the '()' factories).
            return copy.deepcopy(_LAUNCHER_LOGGING[1])
        return original(path)

    configuration.load_logging_config = load
    try:
        yield
    finally:
        configuration.load_logging_config = original


def _logging_settings_path() -> Path:
    """The file setup_logging reads: the user's logging settings, else Prefect's default."""
    path = PREFECT_LOGGING_SETTINGS_PATH.value()
    return path if path.exists() else configuration.DEFAULT_LOGGING_SETTINGS_PATH


def _logging_key(path: Path) -> tuple[Any, ...] | None:
    """Everything load_logging_config(path) reads: the file, the settings its template names,
    and the PREFECT_LOGGING_* environment; None when a name is not a Prefect setting."""
    text = path.read_text()
    values = []
    for name in sorted(string.Template(text).get_identifiers()):
        setting = getattr(prefect.settings, name, None)
        if not isinstance(setting, Setting):
            return None
        values.append((name, repr(setting.value())))
    overrides = sorted((k, v) for k, v in os.environ.items() if k.startswith("PREFECT_LOGGING_"))
    return (str(path), text, tuple(values), tuple(overrides))
