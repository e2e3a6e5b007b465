"""The suite DAG: levels, cycles and unknown dependencies named by path, dependents."""

from __future__ import annotations

import pytest

from dtf.errors import PlanError
from dtf.planning.dag import SuiteStarts, dependents_of, suite_levels
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


def test_a_suite_starts_when_its_own_dependencies_finish_not_its_level() -> None:
    levels = suite_levels(_suites(build=(), slow=(), unit=("build",), e2e=("unit", "slow")))
    starts = SuiteStarts(levels, {"unit": ("build",), "e2e": ("unit", "slow")})
    assert starts.ready() == ["build", "slow"]
    assert starts.ready() == []  # each suite is handed out once
    starts.finish("build")
    assert starts.ready() == ["unit"]  # slow, of build's level, still runs
    starts.finish("unit")
    assert starts.ready() == []  # e2e also waits for slow
    starts.finish("slow")
    assert starts.ready() == ["e2e"]


def test_dropped_suites_never_start_and_outside_dependencies_do_not_hold_back() -> None:
    # A resumed run's plan may lack a suite that finished in its first attempt.
    starts = SuiteStarts([["unit", "lint"], ["e2e"]], {"unit": ("build",), "e2e": ("unit",)})
    assert starts.ready() == ["unit", "lint"]
    assert starts.has_dependents("unit") and not starts.has_dependents("lint")
    starts.drop(["e2e", "unit"])  # unit has started: only e2e is dropped
    starts.finish("unit")
    assert starts.ready() == []
