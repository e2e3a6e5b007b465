"""dtf's pytest plugin: how it folds pytest's reports, checks metrics and streams events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from _pytest.reports import TestReport

from dtf.execution.events import EVENTS_ENV, OUTPUT_LIMIT_ENV
from dtf.execution.plugin import InvalidMetricError, outcome_of, validate_metric


def report(when: str, outcome: str, longrepr: Any = None, **extra: Any) -> TestReport:
    made = TestReport("t.py::t", ("t.py", 0, "t"), {}, outcome, longrepr, when, [], 0.01)  # type: ignore[arg-type]
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def phases(*reports: TestReport) -> dict[str, TestReport]:
    return {r.when: r for r in reports}


def test_outcome_of_folds_the_three_phases() -> None:
    setup, teardown = report("setup", "passed"), report("teardown", "passed")
    assert outcome_of(phases(setup, report("call", "passed"), teardown)) == ("passed", "")
    failed = outcome_of(phases(setup, report("call", "failed", "assert 0"), teardown))
    assert failed == ("failed", "assert 0")
    broken_setup = outcome_of(phases(report("setup", "failed", "fixture boom"), teardown))
    assert broken_setup == ("error", "error in setup: fixture boom")
    broken_teardown = phases(setup, report("call", "passed"), report("teardown", "failed", "x"))
    assert outcome_of(broken_teardown) == ("error", "error in teardown: x")
    # A failing test whose teardown fails too is reported by its call.
    both = phases(setup, report("call", "failed", "a"), report("teardown", "failed", "b"))
    assert outcome_of(both) == ("failed", "a")
    assert outcome_of({})[0] == "error"


def test_outcome_of_skips_and_xfails() -> None:
    skipped = report("setup", "skipped", ("t.py", 3, "Skipped: not here"))
    assert outcome_of(phases(skipped)) == ("skipped", "Skipped: not here")
    xfailed = report("call", "skipped", ("t.py", 3, "x"), wasxfail="bug 42")
    assert outcome_of(phases(report("setup", "passed"), xfailed)) == ("xfailed", "bug 42")
    xpassed = report("call", "passed", wasxfail="fixed")
    assert outcome_of(phases(report("setup", "passed"), xpassed)) == ("xpassed", "fixed")


def test_validate_metric() -> None:
    assert validate_metric("latency", 3, "ms") == {"name": "latency", "value": 3.0, "unit": "ms"}
    for name, value, unit in [
        ("loss", float("nan"), ""),
        ("loss", float("inf"), ""),
        ("flag", True, ""),
        ("text", "1.0", ""),
        ("", 1.0, ""),
        ("n" * 129, 1.0, ""),
        ("ok", 1.0, "u" * 33),
    ]:
        with pytest.raises(InvalidMetricError):
            validate_metric(name, value, unit)  # type: ignore[arg-type]


OUTER = """
import os, subprocess, sys

import pytest


def test_sees_no_dtf_variables():
    assert "{events}" not in os.environ and "{limit}" not in os.environ


def test_runs_pytest_in_a_subprocess():
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "dtf",
                           "-p", "no:cacheprovider", "inner"], capture_output=True)
    assert done.returncode == 0, done.stdout


def test_runs_pytest_in_process():
    assert pytest.main(["-q", "-p", "no:cacheprovider", "inner"]) == 0


def test_after_the_nested_runs(dtf_metric):
    print("still streaming")
    dtf_metric("answer", 42, "units")
"""


def test_the_stream_is_whole_warning_free_and_private(tmp_path: Path) -> None:
    """Tests that start pytest themselves (subprocess or in process) leave the stream alone."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    (tmp_path / "test_outer.py").write_text(
        textwrap.dedent(OUTER).format(events=EVENTS_ENV, limit=OUTPUT_LIMIT_ENV)
    )
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "test_inner.py").write_text("def test_inner():\n    pass\n")
    events_path = tmp_path / "events.jsonl"
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", EVENTS_ENV: str(events_path)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "dtf", "-p", "no:cacheprovider",
         "-W", "error", "test_outer.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    kinds = [(e["e"], e.get("id", "")) for e in events]
    assert kinds[:3] == [
        ("collect_start", "."),
        ("collect_start", "test_outer.py"),
        ("collect_end", ""),
    ]
    names = ["test_sees_no_dtf_variables", "test_runs_pytest_in_a_subprocess",
             "test_runs_pytest_in_process", "test_after_the_nested_runs"]  # fmt: skip
    expected = []
    for name in names:
        expected += [("start", f"test_outer.py::{name}"), ("finish", f"test_outer.py::{name}")]
    # Nothing from the nested sessions; the outer one's end, with pytest's exit status, last.
    assert kinds[3:] == [*expected, ("session_end", "")]
    assert events[-1]["status"] == 0
    last = events[-2]
    assert last["outcome"] == "passed" and "still streaming" in last["out"]
    assert last["metrics"] == [{"name": "answer", "value": 42.0, "unit": "units"}]
    assert all(e["outcome"] == "passed" for e in events if e["e"] == "finish")
