"""discover() on a real misbehaving pytest project: collection problems are data."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtf.discovery import discover
from dtf.errors import DiscoveryError

NASTY = Path(__file__).resolve().parent.parent / "fixtures" / "nasty"
QUIET = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # only dtf's plugin: faster collection


def test_collects_every_test_and_reports_import_errors() -> None:
    found = discover(NASTY, ["."])  # with every installed plugin, as a real suite runs
    assert found.rootdir == NASTY
    assert "test_outcomes.py::test_pass" in found.nodeids
    assert "test_outcomes.py::test_odd_ids[x::y]" in found.nodeids
    assert "test_crash.py::test_segfault_signal" in found.nodeids
    assert len(found.nodeids) == len(set(found.nodeids))
    assert not any(n.startswith("test_import_error.py") for n in found.nodeids)
    assert list(found.collect_errors) == ["test_import_error.py"]
    assert "dtf_nasty_module_that_does_not_exist" in found.collect_errors["test_import_error.py"]


def test_selection_arguments_narrow_the_collection() -> None:
    found = discover(NASTY, ["test_outcomes.py", "-k", "pass"], env=QUIET)
    assert found.nodeids == [
        "test_outcomes.py::test_pass",
        "test_outcomes.py::test_pass_stderr",
        "test_outcomes.py::test_xpass",
    ]
    assert found.collect_errors == {}


def test_a_module_that_crashes_at_import_is_an_error_and_the_rest_is_collected() -> None:
    found = discover(NASTY, ["."], env={**QUIET, "NASTY_AT_IMPORT": "segfault"})
    assert not any(n.startswith("test_import_crash.py") for n in found.nodeids)
    assert "test_outcomes.py::test_pass" in found.nodeids
    assert set(found.collect_errors) == {"test_import_error.py", "test_import_crash.py"}
    crash = found.collect_errors["test_import_crash.py"]
    assert crash.startswith("the interpreter died while collecting test_import_crash.py")
    assert "killed by SIGSEGV" in crash
    assert 'test_import_crash.py", line' in crash  # faulthandler's dump shows where


def test_a_hang_in_collection_is_an_error_naming_the_module() -> None:
    with pytest.raises(DiscoveryError, match=r"stuck collecting test_import_crash\.py"):
        discover(NASTY, ["."], env={**QUIET, "NASTY_AT_IMPORT": "hang"}, timeout=5)


def test_a_missing_source_or_selection_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError, match="does not exist"):
        discover(tmp_path / "nowhere", ["."])
    with pytest.raises(DiscoveryError, match=r"test_nothing_here\.py"):
        discover(NASTY, ["test_nothing_here.py"], env=QUIET)
