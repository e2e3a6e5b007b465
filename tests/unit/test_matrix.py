"""The campaign matrix: load-time checks (file:line:field) and resolution tables."""

from __future__ import annotations

import textwrap

import pytest

from dtf.errors import PlanError, SpecError
from dtf.spec.load import parse_campaign
from dtf.spec.matrix import resolve_matrix

CAMPAIGN = textwrap.dedent(
    """\
    name: ml
    matrix:
      dimensions:
        build_environment: [cpu, cuda]
        test_config: [smoke, inductor, distributed]
      defaults:
        test_config: smoke
      rules:
        - when: {test_config: smoke}
          select: [unit, lint]
        - when: {build_environment: cpu}
          exclude: [inductor, distributed]
        - when: {build_environment: cuda}
          parametrize:
            suites: [unit]
            env: {DEVICE: cuda}
            markers: "not cpu_only"
            requires: {cuda: 1}
        - unless: {build_environment: cuda}
          parametrize:
            env: {THREADS: "1"}
    suites:
      - name: lint
        select: {paths: [tests/lint]}
        unless: {test_config: distributed}
      - name: unit
        select: {paths: [tests/unit], markers: "${matrix.test_config} or fast"}
        env: {BUILD: "${matrix.build_environment}"}
      - name: inductor
        when: {test_config: inductor}
        requires: {cuda: 1}
      - name: distributed
        when: {test_config: [distributed]}
        requires: {cuda: 2}
      - name: docs
    """
)


def _spec():  # type: ignore[no-untyped-def]
    return parse_campaign(CAMPAIGN, "ml.yaml")


@pytest.mark.parametrize(
    ("values", "selected"),
    [
        ({}, ["lint", "unit"]),  # defaults: build_environment=cpu (first), test_config=smoke
        ({"build_environment": "cuda"}, ["lint", "unit"]),
        ({"test_config": "inductor"}, ["lint", "unit", "docs"]),  # cpu excludes inductor
        (
            {"build_environment": "cuda", "test_config": "inductor"},
            ["lint", "unit", "inductor", "docs"],
        ),
        (
            {"build_environment": "cuda", "test_config": "distributed"},
            ["unit", "distributed", "docs"],
        ),
        ({"build_environment": "cpu", "test_config": "distributed"}, ["unit", "docs"]),
    ],
)
def test_selection_table(values: dict[str, str], selected: list[str]) -> None:
    assert resolve_matrix(_spec(), values).selected == selected


def test_defaults_fill_the_dimensions_not_given() -> None:
    chosen = resolve_matrix(_spec(), {"build_environment": "cuda"})
    assert chosen.values == {"build_environment": "cuda", "test_config": "smoke"}


def test_excluded_suites_say_why() -> None:
    chosen = resolve_matrix(_spec(), {"build_environment": "cpu", "test_config": "inductor"})
    assert "matrix rule 2" in chosen.excluded["inductor"]
    assert "excludes" in chosen.excluded["inductor"]
    assert "'when'" in chosen.excluded["distributed"]
    smoke = resolve_matrix(_spec(), {})
    assert "matrix rule 1" in smoke.excluded["docs"]
    assert "selects only unit, lint" in smoke.excluded["docs"]


def test_parametrize_sets_env_markers_and_hardware_by_dimension() -> None:
    cuda = resolve_matrix(_spec(), {"build_environment": "cuda"}).campaign.suite("unit")
    assert cuda.env == {"BUILD": "cuda", "DEVICE": "cuda"}
    assert cuda.select.markers == "(smoke or fast) and (not cpu_only)"
    assert cuda.requires == {"cuda": 1}
    cpu = resolve_matrix(_spec(), {"build_environment": "cpu"}).campaign.suite("unit")
    assert cpu.env == {"BUILD": "cpu", "THREADS": "1"}
    assert cpu.select.markers == "smoke or fast"
    assert cpu.requires == {}


def test_parametrize_without_suites_applies_to_every_selected_suite() -> None:
    chosen = resolve_matrix(_spec(), {"build_environment": "cpu"}).campaign
    assert all(s.env.get("THREADS") == "1" for s in chosen.suites)


def test_resolved_campaign_has_no_matrix_left() -> None:
    chosen = resolve_matrix(_spec(), {"build_environment": "cuda"}).campaign
    assert chosen.matrix is None
    assert all(not s.when and not s.unless for s in chosen.suites)
    # Resolving again changes nothing: markers are not conjoined twice.
    again = resolve_matrix(chosen, {}).campaign
    assert again.suite("unit").select.markers == chosen.suite("unit").select.markers


def test_campaign_without_matrix_resolves_to_itself() -> None:
    spec = parse_campaign("name: plain\nsuites: [{name: a}]\n", "plain.yaml")
    chosen = resolve_matrix(spec, {})
    assert chosen.selected == ["a"] and chosen.values == {} and chosen.campaign == spec


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"gpu": "a100"}, "ml.yaml:3: field 'matrix.dimensions': unknown matrix dimension 'gpu'"),
        (
            {"build_environment": "rocm"},
            "ml.yaml:4: field 'matrix.dimensions.build_environment': 'rocm' is not a value",
        ),
    ],
)
def test_unknown_dimension_or_value_names_file_line_and_field(
    values: dict[str, str], expected: str
) -> None:
    with pytest.raises(SpecError) as err:
        resolve_matrix(_spec(), values)
    assert str(err.value).startswith(expected)


def test_matrix_values_for_a_campaign_without_matrix_are_an_error() -> None:
    spec = parse_campaign("name: plain\nsuites: [{name: a}]\n", "plain.yaml")
    with pytest.raises(SpecError, match=r"plain\.yaml:1: field 'matrix': cannot set x"):
        resolve_matrix(spec, {"x": "1"})


def _with(fragment: str) -> str:
    return textwrap.dedent(
        """\
        name: bad
        matrix:
          dimensions:
            arch: [x86, arm]
        """
    ) + textwrap.dedent(fragment)


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            _with("suites:\n  - name: a\n    when: {os: linux}\n"),
            "bad.yaml:7: field 'suites[a].when.os'",
            "unknown matrix dimension 'os'",
        ),
        (
            _with("suites:\n  - name: a\n    unless: {arch: [arm, riscv]}\n"),
            "bad.yaml:7: field 'suites[a].unless.arch'",
            "'riscv' is not a value of matrix dimension 'arch'",
        ),
        (
            _with("  rules:\n    - {when: {arch: arm}, exclude: [b]}\nsuites: [{name: a}]\n"),
            "bad.yaml:6: field 'matrix.rules[0].exclude[0]'",
            "names unknown suite 'b'",
        ),
        (
            _with("  defaults: {arch: sparc}\nsuites: [{name: a}]\n"),
            "bad.yaml:5: field 'matrix.defaults.arch'",
            "'sparc' is not a value",
        ),
        (
            _with("suites:\n  - name: a\n    env: {X: '${matrix.os}'}\n"),
            "bad.yaml:7: field 'suites[a].env.X'",
            "placeholder '${matrix.os}' names no matrix dimension",
        ),
        (
            _with("  rules:\n    - when: {arch: arm}\nsuites: [{name: a}]\n"),
            "bad.yaml:6: field 'matrix.rules[0]'",
            "a rule needs 'select', 'exclude' or 'parametrize'",
        ),
        (
            "name: bad\nsuites:\n  - name: a\n    when: {arch: arm}\n",
            "bad.yaml:4: field 'suites[a].when.arch'",
            "the campaign declares no 'matrix'",
        ),
        (
            "name: bad\nmatrix:\n  dimensions: {arch: [x86, x86]}\nsuites: [{name: a}]\n",
            "bad.yaml:3: field 'matrix.dimensions'",
            "lists a value twice",
        ),
    ],
)
def test_load_errors_name_file_line_and_field(text: str, where: str, message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_campaign(text, "bad.yaml")
    assert str(err.value).startswith(where), str(err.value)
    assert message in str(err.value)


def test_dependency_on_a_suite_the_matrix_drops_is_a_plan_error() -> None:
    text = _with(
        """\
        suites:
          - name: build
            when: {arch: x86}
          - name: test
            depends_on: [build]
        """
    )
    spec = parse_campaign(text, "dep.yaml")
    assert resolve_matrix(spec, {"arch": "x86"}).selected == ["build", "test"]
    with pytest.raises(PlanError, match="'test' depends on suite 'build', which does not run"):
        resolve_matrix(spec, {"arch": "arm"})


def test_a_point_that_selects_no_suite_is_a_plan_error() -> None:
    spec = parse_campaign(_with("suites:\n  - {name: a, when: {arch: arm}}\n"), "none.yaml")
    with pytest.raises(PlanError, match="select no suite"):
        resolve_matrix(spec, {"arch": "x86"})
