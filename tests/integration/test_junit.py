"""write_junit on real stored results: well-formed XML with the structure Jenkins reads."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from dtf.execution.outcomes import CaseResult, ShardOutcome
from dtf.junit import split_nodeid, write_junit
from dtf.store.results import ResultStore, ShardRecord

COUNTS = ("tests", "failures", "errors", "skipped", "time")


def stored_rows(tmp_path: Path, results: list[CaseResult], attempt: int = 1) -> list[Any]:
    """Rows as ResultStore.results_of returns them after a shard of `results` was written."""
    store = ResultStore(f"duckdb:///{tmp_path / 'results.duckdb'}")
    try:
        store.start_run("run-1", "junit", source=".", parameters={})
        outcome = ShardOutcome("shard-1", results, launches=1, wall_seconds=1.0, worker="w-0")
        record = ShardRecord("run-1", "shard-1", "unit", attempt, {"cpu": 1}, len(results), 1.0)
        store.write_shard(record, outcome)
        return store.results_of("run-1")
    finally:
        store.close()


def parse(path: Path) -> ET.Element:
    return ET.parse(path).getroot()  # raises on malformed XML


def case(root: ET.Element, name: str) -> ET.Element:
    found = [c for c in root.iter("testcase") if c.get("name") == name]
    assert len(found) == 1, name
    return found[0]


def test_every_outcome_maps_to_the_element_jenkins_expects(tmp_path: Path) -> None:
    results = [
        CaseResult("tests/unit/test_a.py::test_ok", "passed", 0.5, output="hello"),
        CaseResult("tests/unit/test_a.py::TestX::test_bad", "failed", 0.25, "assert 1 == 2\nmore"),
        CaseResult("tests/unit/test_a.py::test_err", "error", 0.0, "error in setup: boom"),
        CaseResult("tests/unit/test_a.py::test_slow", "timeout", 2.0, "test timeout of 2s"),
        CaseResult("tests/unit/test_a.py::test_segv", "crashed", 0.1, "killed by SIGSEGV"),
        CaseResult("tests/unit/test_a.py::test_skip", "skipped", 0.0, "not on this machine"),
        CaseResult("tests/unit/test_a.py::test_xf", "xfailed", 0.0, "known bug"),
        CaseResult("tests/unit/test_a.py::test_xp", "xpassed", 0.0, "fixed"),
        CaseResult("tests/unit/test_a.py::test_p[a::b-1]", "passed", 0.0),
    ]
    root = parse(write_junit(stored_rows(tmp_path, results), tmp_path / "out" / "junit.xml"))
    assert root.tag == "testsuites"
    assert [s.get("name") for s in root.findall("testsuite")] == ["unit"]
    suite = root.find("testsuite")
    assert suite is not None
    for element in (root, suite):
        assert {k: element.get(k) for k in COUNTS} == {
            "tests": "9", "failures": "1", "errors": "3", "skipped": "2", "time": "2.850",
        }  # fmt: skip
    assert suite.get("timestamp") and suite.get("hostname") == "w-0"
    bad = case(root, "test_bad")
    assert bad.get("classname") == "tests.unit.test_a.TestX"
    failure = bad.find("failure")
    assert failure is not None and failure.get("message") == "assert 1 == 2"
    assert failure.text == "assert 1 == 2\nmore" and failure.get("type") == "failed"
    for name, kind in (("test_err", "error"), ("test_slow", "timeout"), ("test_segv", "crashed")):
        error = case(root, name).find("error")
        assert error is not None and error.get("type") == kind
    skipped = case(root, "test_skip").find("skipped")
    assert skipped is not None and skipped.get("message") == "not on this machine"
    assert case(root, "test_xf").find("skipped") is not None
    xpassed = case(root, "test_xp")
    assert all(xpassed.find(tag) is None for tag in ("failure", "error", "skipped"))
    assert case(root, "test_p[a::b-1]").get("classname") == "tests.unit.test_a"
    ok = case(root, "test_ok")
    assert ok.get("time") == "0.500" and ok.findtext("system-out") == "hello"
    worker = ok.find("properties/property[@name='worker']")
    assert worker is not None and worker.get("value") == "w-0"


def test_flaky_and_rerun_attempts(tmp_path: Path) -> None:
    first = stored_rows(
        tmp_path,
        [
            CaseResult("t.py::test_flaky", "failed", 0.1, "first try failed", output="out 1"),
            CaseResult("t.py::test_broken", "failed", 0.1, "broken once"),
            CaseResult("t.py::test_verdict", "flaky", 0.1, "failed 1 of 3 runs"),
        ],
    )
    by_id = {row["test_id"]: row for row in first}
    rows = [
        *first,
        {**by_id["t.py::test_flaky"], "attempt": 2, "outcome": "passed", "message": ""},
        {
            **by_id["t.py::test_broken"],
            "attempt": 2,
            "outcome": "crashed",
            "message": "again",
        },
    ]
    root = parse(write_junit(rows, tmp_path / "junit.xml"))
    assert root.get("tests") == "3" and root.get("errors") == "1" and root.get("failures") == "0"
    flaky = case(root, "test_flaky")
    assert flaky.find("failure") is None and flaky.find("error") is None
    flaky_failure = flaky.find("flakyFailure")
    assert flaky_failure is not None and flaky_failure.get("message") == "first try failed"
    assert flaky_failure.findtext("stackTrace") == "first try failed"
    assert flaky_failure.findtext("system-out") == "out 1"
    broken = case(root, "test_broken")
    error = broken.find("error")
    assert error is not None and error.get("message") == "again"
    rerun = broken.find("rerunFailure")
    assert rerun is not None and rerun.get("message") == "broken once"
    # A flaky verdict whose attempts are not at hand still shows what failed.
    verdict = case(root, "test_verdict").find("flakyFailure")
    assert verdict is not None and verdict.get("message") == "failed 1 of 3 runs"


def test_earlier_attempts_from_elsewhere_become_flaky_errors(tmp_path: Path) -> None:
    final = [{"test_id": "t.py::test_x", "suite": "s", "outcome": "passed", "duration": 1}]
    earlier = [{"test_id": "t.py::test_x", "suite": "s", "outcome": "timeout", "message": "t/o"}]
    root = parse(write_junit(final, tmp_path / "j.xml", earlier_attempts=earlier))
    flaky = case(root, "test_x").find("flakyError")
    assert flaky is not None and flaky.get("type") == "timeout"
    assert root.get("errors") == "0"


def test_text_xml_cannot_carry_is_escaped_not_fatal(tmp_path: Path) -> None:
    nasty = "ansi \x1b[31mred\x1b[0m nul \x00 surrogate \udcff bell \x07 ok é"
    rows = [{"test_id": "t.py::test_\x01odd", "suite": "s\x02", "outcome": "failed",
             "duration": float("nan"), "message": nasty, "output": nasty}]  # fmt: skip
    root = parse(write_junit(rows, tmp_path / "j.xml"))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and failure.text is not None
    assert "\\x1b[31mred" in failure.text and "\\x00" in failure.text and "ok é" in failure.text
    assert root.find("testsuite/testcase") is not None
    assert root.find("testsuite/testcase").get("time") == "0.000"  # type: ignore[union-attr]


def test_node_id_split() -> None:
    assert split_nodeid("a/b/test_c.py::TestD::test_e[x-1]") == ("a.b.test_c.TestD", "test_e[x-1]")
    assert split_nodeid("test_c.py::test_e[a::b/c]") == ("test_c", "test_e[a::b/c]")
    assert split_nodeid("build-and-check", "shell") == ("shell", "build-and-check")
