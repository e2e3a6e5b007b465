"""Reading `expectations:` from a campaign file: defaults, rules, errors with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtf.errors import SpecError
from dtf.validation.sections import read_expectations
from dtf.validation.spec import Expectations, expectations_from_mapping

CAMPAIGN = """\
name: nightly
suites:
  - name: unit
expectations:
  no_new_failures: true
  pass_rate:
    - suite: unit
      at_least: 0.95
  metrics:
    - name: latency_ms
      test: "bench/*"
      within_pct_of_baseline: 10
      direction: increase
  durations:
    - max_seconds: 30
"""


def test_reads_the_section_and_ignores_the_rest_of_the_file(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(CAMPAIGN)
    spec = read_expectations(path)
    assert spec.no_new_failures and spec.no_infra_failed_shards
    assert spec.pass_rate[0].suite == "unit" and spec.pass_rate[0].at_least == 0.95
    assert spec.metrics[0].direction == "increase"
    assert spec.durations[0].max_seconds == 30


def test_absent_section_gives_defaults(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\nsuites: [{name: a}]\n")
    assert read_expectations(path) == Expectations()


@pytest.mark.parametrize(
    ("snippet", "line", "field"),
    [
        ("expectations:\n  pass_rate:\n    - at_least: 1.5\n", 3, "at_least"),
        ("expectations:\n  metrics:\n    - name: m\n", 3, "metrics"),
        ("expectations:\n  no_new_failure: true\n", 2, "no_new_failure"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, snippet: str, line: int, field: str):
    path = tmp_path / "c.yaml"
    path.write_text(snippet)
    with pytest.raises(SpecError) as caught:
        read_expectations(path)
    assert caught.value.line == line
    assert field in (caught.value.field or "")
    assert str(path) in str(caught.value)


def test_from_an_already_parsed_mapping():
    spec = expectations_from_mapping({"expectations": {"durations": [{"max_seconds": 2}]}})
    assert spec.durations[0].max_seconds == 2
