"""Resolves a campaign's matrix for given dimension values: which suites run, and how."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from dtf.errors import PlanError, SpecError
from dtf.spec.checks import PLACEHOLDER
from dtf.spec.models import Campaign, Condition, Location, Matrix, MatrixRule, Suite


@dataclass(frozen=True)
class MatrixSelection:
    """The campaign to plan for one point of the matrix, and why the other suites are out."""

    values: dict[str, str]
    campaign: Campaign
    excluded: dict[str, str] = field(default_factory=dict)  # suite -> why it does not run

    @property
    def selected(self) -> list[str]:
        return [s.name for s in self.campaign.suites]


def resolve_matrix(spec: Campaign, given: Mapping[str, str] | None = None) -> MatrixSelection:
    """Select and parametrize `spec`'s suites for the dimension values `given`.

    Dimensions not given take their default. An unknown dimension or value is a SpecError
    that names the campaign file, the line and the field where the dimension is declared.
    The returned campaign has no matrix left: resolving is done once.
    """
    values = matrix_values(spec, given or {})
    if spec.matrix is None:
        return MatrixSelection(values, spec)
    excluded: dict[str, str] = {}
    suites: list[Suite] = []
    for suite in spec.suites:
        why = _suite_condition_fails(suite, values)
        if why:
            excluded[suite.name] = why
        else:
            suites.append(suite)
    applying = [(i, r) for i, r in enumerate(spec.matrix.rules) if _rule_applies(r, values)]
    suites = _apply_selection(suites, applying, excluded)
    suites = [_parametrized(s, [r for _, r in applying], values) for s in suites]
    _check_dependencies(suites, excluded, values)
    if not suites:
        raise PlanError(
            f"matrix values {_show(values)} select no suite of campaign "
            f"'{spec.name}': {'; '.join(f'{k}: {v}' for k, v in excluded.items())}"
        )
    resolved = spec.model_copy(update={"matrix": None, "suites": tuple(suites)})
    return MatrixSelection(values, resolved, excluded)


def matrix_values(spec: Campaign, given: Mapping[str, str]) -> dict[str, str]:
    """Every dimension's value: the given one (checked), else its default."""
    matrix = spec.matrix
    if matrix is None:
        if given:
            raise _spec_error(
                spec,
                ("matrix",),
                f"cannot set {', '.join(sorted(given))}: the campaign declares no 'matrix'",
            )
        return {}
    for dim, value in given.items():
        if dim not in matrix.dimensions:
            declared = ", ".join(matrix.dimensions)
            raise _spec_error(
                spec,
                ("matrix", "dimensions"),
                f"unknown matrix dimension '{dim}' (dimensions: {declared})",
            )
        if value not in matrix.dimensions[dim]:
            allowed = ", ".join(matrix.dimensions[dim])
            raise _spec_error(
                spec,
                ("matrix", "dimensions", dim),
                f"'{value}' is not a value of dimension '{dim}' (values: {allowed})",
            )
    return {**matrix.default_values(), **given}


def matches(condition: Condition, values: Mapping[str, str]) -> bool:
    """True when every dimension of `condition` has one of its listed values."""
    return all(values.get(dim) in allowed for dim, allowed in condition.items())


def _rule_applies(rule: MatrixRule, values: Mapping[str, str]) -> bool:
    return matches(rule.when, values) and not (rule.unless and matches(rule.unless, values))


def _suite_condition_fails(suite: Suite, values: Mapping[str, str]) -> str | None:
    if suite.when and not matches(suite.when, values):
        return f"its 'when' ({_show_condition(suite.when)}) does not match {_show(values)}"
    if suite.unless and matches(suite.unless, values):
        return f"its 'unless' ({_show_condition(suite.unless)}) matches {_show(values)}"
    return None


def _apply_selection(
    suites: list[Suite], rules: list[tuple[int, MatrixRule]], excluded: dict[str, str]
) -> list[Suite]:
    kept = list(suites)
    for index, rule in rules:
        label = f"matrix rule {index + 1} (when {_show_condition(rule.when) or 'always'})"
        if rule.select is not None:
            for suite in kept:
                if suite.name not in rule.select:
                    excluded[suite.name] = f"{label} selects only {', '.join(rule.select)}"
            kept = [s for s in kept if s.name in rule.select]
        for suite in kept:
            if suite.name in rule.exclude:
                excluded[suite.name] = f"{label} excludes it"
        kept = [s for s in kept if s.name not in rule.exclude]
    return kept


def _parametrized(suite: Suite, rules: list[MatrixRule], values: Mapping[str, str]) -> Suite:
    env = dict(suite.env)
    select = suite.select
    requires = dict(suite.requires)
    for rule in rules:
        change = rule.parametrize
        if change is None or (change.suites and suite.name not in change.suites):
            continue
        env.update(change.env)
        select = select.narrowed(change.keywords, change.markers)
        requires.update(change.requires)
    select = select.model_copy(
        update={
            "markers": _substitute(select.markers, values),
            "keywords": _substitute(select.keywords, values),
        }
    )
    return suite.model_copy(
        update={
            "env": {k: _substitute(v, values) or "" for k, v in env.items()},
            "select": select,
            "requires": requires,
            "batch_key": _substitute(suite.batch_key, values),
            "when": {},
            "unless": {},
        }
    )


def _substitute(text: str | None, values: Mapping[str, str]) -> str | None:
    if text is None:
        return None

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise PlanError(f"placeholder '${{matrix.{name}}}' names no matrix dimension")
        return values[name]

    return PLACEHOLDER.sub(value, text)


def _check_dependencies(
    suites: list[Suite], excluded: Mapping[str, str], values: Mapping[str, str]
) -> None:
    for suite in suites:
        for dep in suite.depends_on:
            if dep in excluded:
                raise PlanError(
                    f"suite '{suite.name}' depends on suite '{dep}', which does not run for "
                    f"{_show(values)} ({excluded[dep]}); give '{suite.name}' the same "
                    "condition or drop the dependency"
                )


def _spec_error(spec: Campaign, loc: Location, message: str) -> SpecError:
    origin = spec.origin
    line = None
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in origin.lines:
            line = origin.lines[loc[:cut]]
            break
    return SpecError(origin.source, message, line=line, field=".".join(map(str, loc)))


def _show(values: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "no matrix values"


def _show_condition(condition: Condition) -> str:
    return ", ".join(
        f"{k}={v[0]}" if len(v) == 1 else f"{k} in [{', '.join(v)}]" for k, v in condition.items()
    )


def describe(matrix: Matrix) -> dict[str, list[str]]:
    """The matrix's dimensions and their values, for printing."""
    return {k: list(v) for k, v in matrix.dimensions.items()}
