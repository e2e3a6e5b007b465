"""Writes a campaign run's results as JUnit XML for Jenkins, GitLab and GitHub reporters.

One <testsuite> per dtf suite, one <testcase> per test. Several rows of the same test (its
attempts) fold into one testcase: the last attempt decides, earlier failed attempts become
<flakyFailure>/<flakyError> when it passed (the Maven Surefire convention for reruns, which
Jenkins' junit plugin reads) and <rerunFailure>/<rerunError> when it failed again.
"""

from __future__ import annotations

import math
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Row = Mapping[str, Any]

PASSING = frozenset({"passed", "xpassed", "flaky"})
SKIPPED = frozenset({"skipped", "xfailed"})
FAILURES = frozenset({"failed"})
# Everything else (error, timeout, crashed, unknown outcomes) is an <error>.

# Characters XML 1.0 cannot carry at all, even escaped; lone surrogates are among them.
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_FIRST_LINE_LIMIT = 200


@dataclass
class _Case:
    """One test of one suite: its deciding row and the attempts before it."""

    suite: str
    test_id: str
    final: Row
    earlier: list[Row] = field(default_factory=list)


def write_junit(
    rows: Iterable[Row],
    path: Path,
    *,
    earlier_attempts: Iterable[Row] = (),
    name: str = "dtf",
    timestamp: float | None = None,
) -> Path:
    """Write `rows` (as ResultStore.results_of returns them) to `path` as JUnit XML.

    `rows` may hold several attempts of a test (told apart by an `attempt` key, else by
    their order); `earlier_attempts` adds attempts kept elsewhere (e.g. reruns of another
    run). Both become rerun elements of the test's final attempt.
    """
    cases = _fold([*earlier_attempts], [*rows])
    root = ET.Element("testsuites", name=name)
    for suite, members in _by_suite(cases).items():
        root.append(_suite_element(suite, members, timestamp))
    _set_counts(root, list(root))
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def _fold(earlier: list[Row], rows: list[Row]) -> list[_Case]:
    attempts: dict[tuple[str, str], list[tuple[tuple[int, int, int], Row]]] = {}
    for group, batch in enumerate((earlier, rows)):
        for order, row in enumerate(batch):
            key = (str(row.get("suite") or "dtf"), str(row["test_id"]))
            # `earlier_attempts` precede every row; within each, attempt numbers, then order.
            rank = (group, int(row.get("attempt") or 0), order)
            attempts.setdefault(key, []).append((rank, row))
    cases = []
    for (suite, test_id), ranked in attempts.items():
        ordered = [row for _, row in sorted(ranked, key=lambda item: item[0])]
        cases.append(_Case(suite, test_id, ordered[-1], ordered[:-1]))
    return cases


def _by_suite(cases: list[_Case]) -> dict[str, list[_Case]]:
    suites: dict[str, list[_Case]] = {}
    for case in sorted(cases, key=lambda c: (c.suite, c.test_id)):
        suites.setdefault(case.suite, []).append(case)
    return suites


def _suite_element(suite: str, cases: list[_Case], timestamp: float | None) -> ET.Element:
    element = ET.Element("testsuite", name=_xml(suite))
    when = datetime.fromtimestamp(timestamp, UTC) if timestamp else datetime.now(UTC)
    element.set("timestamp", when.strftime("%Y-%m-%dT%H:%M:%S"))
    element.set("hostname", _xml(_hosts(cases) or socket.gethostname()))
    for case in cases:
        element.append(_case_element(case))
    _set_counts(element, [element])
    return element


def _hosts(cases: list[_Case]) -> str:
    workers = sorted({str(c.final.get("worker") or "") for c in cases} - {""})
    return ",".join(workers)


def _case_element(case: _Case) -> ET.Element:
    row = case.final
    classname, test_name = split_nodeid(case.test_id, case.suite)
    element = ET.Element(
        "testcase",
        classname=_xml(classname),
        name=_xml(test_name),
        time=_seconds(row.get("duration")),
    )
    _add_properties(element, row)
    outcome = str(row.get("outcome", ""))
    failed_before = [r for r in case.earlier if _kind(r) != "pass"]
    if outcome in PASSING:
        _add_flaky(element, row, failed_before, outcome)
    elif outcome in SKIPPED:
        _add(element, "skipped", row, message_only=True)
    else:
        _add(element, "failure" if outcome in FAILURES else "error", row)
        for earlier in failed_before:
            _add(element, "rerunFailure" if _kind(earlier) == "failure" else "rerunError", earlier)
    _add_text(element, "system-out", row.get("output"))
    return element


def _add_flaky(element: ET.Element, row: Row, failed_before: list[Row], outcome: str) -> None:
    if outcome == "flaky" and not failed_before:
        # A flaky verdict without its attempts at hand: its message tells what failed.
        failed_before = [{**row, "outcome": "failed"}]
    for earlier in failed_before:
        _add(element, "flakyFailure" if _kind(earlier) == "failure" else "flakyError", earlier)


def _kind(row: Row) -> str:
    outcome = str(row.get("outcome", ""))
    if outcome in PASSING or outcome in SKIPPED:
        return "pass"
    return "failure" if outcome in FAILURES else "error"


def _add(parent: ET.Element, tag: str, row: Row, *, message_only: bool = False) -> None:
    message = str(row.get("message") or "")
    child = ET.SubElement(parent, tag, message=_xml(_first_line(message)))
    outcome = str(row.get("outcome", ""))
    if outcome:
        child.set("type", outcome)
    if message_only:
        return
    if tag.startswith(("flaky", "rerun")):
        # Surefire puts a rerun's details in child elements, not in its text.
        _add_text(child, "stackTrace", message)
        _add_text(child, "system-out", row.get("output"))
    elif message:
        child.text = _xml(message)


def _add_properties(element: ET.Element, row: Row) -> None:
    values = [(key, row.get(key)) for key in ("worker", "hardware", "attempt", "shard_id")]
    present = [(k, v) for k, v in values if v not in (None, "")]
    if present:
        properties = ET.SubElement(element, "properties")
        for key, value in present:
            ET.SubElement(properties, "property", name=key, value=_xml(str(value)))


def _add_text(parent: ET.Element, tag: str, text: object) -> None:
    if text:
        ET.SubElement(parent, tag).text = _xml(str(text))


def _set_counts(element: ET.Element, suites: list[ET.Element]) -> None:
    """Set tests/failures/errors/skipped/time on a testsuite or the testsuites root."""
    cases = [case for suite in suites for case in suite.iter("testcase")]
    element.set("tests", str(len(cases)))
    for attribute, tag in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
        element.set(attribute, str(sum(1 for c in cases if c.find(tag) is not None)))
    element.set("time", _seconds(sum(float(c.get("time", "0")) for c in cases)))


def split_nodeid(test_id: str, suite: str = "") -> tuple[str, str]:
    """('tests.unit.test_a.TestX', 'test_y[p::1]') for 'tests/unit/test_a.py::TestX::test_y[p::1]'.

    A test id that is not a pytest node id (a shell suite's) keeps the suite as its class.
    """
    bracket = test_id.find("[")
    plain, params = (test_id, "") if bracket < 0 else (test_id[:bracket], test_id[bracket:])
    parts = plain.split("::")
    if len(parts) < 2:
        return (suite or "dtf", test_id)
    path = parts[0].removesuffix(".py").replace("/", ".").replace("\\", ".")
    return (".".join([path, *parts[1:-1]]), parts[-1] + params)


def _first_line(message: str) -> str:
    for line in message.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= _FIRST_LINE_LIMIT else line[:_FIRST_LINE_LIMIT] + "..."
    return ""


def _seconds(value: object) -> str:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = 0.0
    return f"{seconds:.3f}" if math.isfinite(seconds) and seconds > 0 else "0.000"


def _xml(text: str) -> str:
    """Text XML can carry: what it cannot becomes a visible escape, never a broken file."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
