"""A warm launcher's child takes Prefect's logging configuration from the launcher only when
its own logging settings would load the same one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.context import refresh_global_settings_context
from prefect.logging import configuration

from flows import warm_child

DEFAULT = configuration.DEFAULT_LOGGING_SETTINGS_PATH


@pytest.fixture
def preloaded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The launcher's configuration, loaded with this process's settings (no user file)."""
    monkeypatch.setenv("PREFECT_LOGGING_SETTINGS_PATH", str(tmp_path / "none.yml"))
    for name in ("PREFECT_LOGGING_LEVEL", "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    refresh_global_settings_context()
    monkeypatch.setattr(warm_child, "_LAUNCHER_LOGGING", None)
    warm_child.preload_logging_config()
    assert warm_child._LAUNCHER_LOGGING is not None
    yield warm_child._LAUNCHER_LOGGING[1]
    monkeypatch.undo()
    refresh_global_settings_context()


def _loaded_in_child() -> dict[str, Any] | None:
    """What setup_logging would get in a child; None when Prefect had to load it itself."""

    def refuse(_path: Path) -> dict[str, Any]:
        raise LookupError("Prefect loaded the configuration itself")

    refresh_global_settings_context()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(configuration, "load_logging_config", refuse)
        try:
            with warm_child._launcher_logging_config():
                return configuration.load_logging_config(DEFAULT)
        except LookupError:
            return None


def test_a_child_with_the_launchers_settings_gets_a_copy_of_its_configuration(
    preloaded: dict[str, Any],
) -> None:
    expected = configuration.load_logging_config(DEFAULT)
    got = _loaded_in_child()
    assert got == expected == preloaded
    assert got is not preloaded  # dictConfig consumes parts of what it is given


@pytest.mark.parametrize(
    ("name", "value"),
    [("PREFECT_LOGGING_LEVEL", "DEBUG"), ("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")],
)
def test_a_child_whose_logging_settings_differ_loads_its_own(
    preloaded: dict[str, Any], monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    assert _loaded_in_child() is None
    with warm_child._launcher_logging_config():
        loaded = configuration.load_logging_config(DEFAULT)
    assert loaded != preloaded
    if name == "PREFECT_LOGGING_LEVEL":
        assert loaded["loggers"]["prefect"]["level"] == "DEBUG"
    else:
        assert loaded["handlers"]["console"]["level"] == "WARNING"


def test_a_users_logging_file_is_read_not_the_launchers_copy(
    preloaded: dict[str, Any], tmp_path: Path
) -> None:
    own = tmp_path / "logging.yml"
    own.write_text("version: 1\nloggers:\n  prefect:\n    level: ERROR\n")
    refresh_global_settings_context()
    with warm_child._launcher_logging_config():
        loaded = configuration.load_logging_config(own)
    assert loaded["loggers"]["prefect"]["level"] == "ERROR"
