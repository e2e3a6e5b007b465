"""Campaign fields for planning: gates, batch keys, overhead share; errors keep file:line."""

from __future__ import annotations

import pytest

from dtf.errors import SpecError
from dtf.spec.load import load_campaign, parse_campaign
from dtf.spec.models import Campaign, Gate, Suite


def test_gate_defaults_to_any_failure() -> None:
    suite = parse_campaign("name: c\nsuites: [{name: a}]\n").suite("a")
    assert suite.gate == Gate() and suite.gate.min_pass_rate is None


def test_gate_and_batch_fields_load() -> None:
    text = (
        "name: c\nsuites:\n  - name: a\n    gate: {min_pass_rate: 0.95}\n"
        "    batch_key: llama\n    batch_by: '\\[(\\w+)-'\n"
    )
    suite = parse_campaign(text).suite("a")
    assert suite.gate.min_pass_rate == 0.95
    assert suite.batch_key == "llama"
    assert suite.batch_by == r"\[(\w+)-"


@pytest.mark.parametrize(
    ("fragment", "where", "message"),
    [
        (
            "gate: {min_pass_rate: 1.5}",
            "c.yaml:5: field 'suites[a].gate.min_pass_rate'",
            "less than or equal to 1",
        ),
        ("gate: {max_failures: 2}", "c.yaml:5: field 'suites[a].gate.max_failures'", "unknown key"),
        ("batch_by: '(a)(b)'", "c.yaml:5: field 'suites[a].batch_by'", "exactly one capture group"),
        (
            "batch_by: '(a'",
            "c.yaml:5: field 'suites[a].batch_by'",
            "not a valid regular expression",
        ),
        ("batch_key: ''", "c.yaml:5: field 'suites[a].batch_key'", "at least 1 character"),
    ],
)
def test_bad_planning_fields_name_file_line_and_field(
    fragment: str, where: str, message: str
) -> None:
    text = f"name: c\nsuites:\n  - name: a\n    requires: {{cpu: 1}}\n    {fragment}\n"
    with pytest.raises(SpecError) as err:
        parse_campaign(text, "c.yaml")
    assert str(err.value).startswith(where), str(err.value)
    assert message in str(err.value)


def test_value_errors_drop_pydantics_prefix() -> None:
    with pytest.raises(SpecError) as err:
        parse_campaign("name: c\nsuites:\n  - name: a\n    batch_by: x\n", "c.yaml")
    assert "Value error" not in str(err.value)


@pytest.mark.parametrize("share", [0, 1, -0.5])
def test_overhead_share_must_be_a_fraction(share: float) -> None:
    with pytest.raises(SpecError, match=r"c.yaml:3: field 'defaults.max_overhead_share'"):
        parse_campaign(
            f"name: c\ndefaults:\n  max_overhead_share: {share}\nsuites: [{{name: a}}]\n", "c.yaml"
        )


def test_loaded_campaign_remembers_its_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.yaml"
    path.write_text("name: c\nsuites: [{name: a}]\n")
    spec = load_campaign(path)
    assert spec.origin.source == str(path)
    assert spec.origin.lines[("suites",)] == 2
    assert Campaign(name="x", suites=(Suite(name="a"),)).origin.source == "<campaign>"


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "campaign file not found"), ("", "is empty"), ("- a\n", "top level must be a mapping")],
)
def test_unreadable_files_are_spec_errors(tmp_path, content, message) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SpecError, match=message):
        load_campaign(path)
