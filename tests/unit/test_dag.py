"""The suite DAG: levels, cycles and unknown dependencies named by path, dependents."""

from __future__ import annotations

import pytest

from dtf.errors import PlanError
from dtf.planning.dag import dependents_of, suite_levels
from dtf.spec.models import Suite


def _suites(**deps: tuple[str, ...]) -> list[Suite]:
    return [Suite(name=name, depends_on=wanted) for name, wanted in deps.items()]


def test_levels_put_dependencies_first_and_keep_file_order() -> None:
    suites = _suites(lint=(), unit=(), gpu=("unit",), e2e=("gpu", "lint"), docs=())
    assert suite_levels(suites) == [["lint", "unit", "docs"], ["gpu"], ["e2e"]]


def test_independent_suites_share_level_zero() -> None:
    assert suite_levels(_suites(a=(), b=(), c=())) == [["a", "b", "c"]]


def test_unknown_dependency_names_both_suites() -> None:
    with pytest.raises(PlanError, match="suite 'b' depends on unknown suite 'nope'"):
        suite_levels(_suites(a=(), b=("nope",)))


@pytest.mark.parametrize(
    ("deps", "path"),
    [
        ({"a": ("a",)}, "a -> a"),
        ({"a": ("b",), "b": ("a",)}, "a -> b -> a"),
        ({"x": (), "a": ("b",), "b": ("c",), "c": ("a",)}, "a -> b -> c -> a"),
        ({"a": ("x",), "x": ("b",), "b": ("c",), "c": ("b",)}, "b -> c -> b"),
    ],
)
def test_cycles_are_named_by_their_path(deps: dict[str, tuple[str, ...]], path: str) -> None:
    with pytest.raises(PlanError) as err:
        suite_levels(_suites(**deps))
    assert str(err.value) == f"suites form a dependency cycle: {path}"


def test_dependents_are_transitive_and_spare_independent_branches() -> None:
    suites = _suites(build=(), unit=("build",), e2e=("unit",), lint=(), docs=("lint",))
    assert dependents_of(suites, "build") == ["unit", "e2e"]
    assert dependents_of(suites, "lint") == ["docs"]
    assert dependents_of(suites, "e2e") == []
