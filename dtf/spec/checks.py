"""Cross-field checks of a campaign (matrix dimensions, values, suite names, placeholders)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from dtf.spec.models import Campaign, Condition, Location, Matrix, Suite

# `${matrix.NAME}` in env values, marker and keyword expressions and batch keys.
PLACEHOLDER = re.compile(r"\$\{matrix\.([^}]*)\}")

Problem = tuple[Location, str]


def campaign_problems(spec: Campaign) -> list[Problem]:
    """Every reference in `spec` that points nowhere, with where it sits in the file."""
    names = {s.name for s in spec.suites}
    problems = list(_matrix_problems(spec.matrix, names))
    for index, suite in enumerate(spec.suites):
        base: Location = ("suites", index)
        for key in ("when", "unless"):
            condition: Condition = getattr(suite, key)
            problems += _condition_problems(spec.matrix, condition, (*base, key))
        problems += _placeholder_problems(spec.matrix, _suite_texts(suite, base))
    return problems


def _matrix_problems(matrix: Matrix | None, suites: set[str]) -> Iterator[Problem]:
    if matrix is None:
        return
    for dim, value in matrix.defaults.items():
        where: Location = ("matrix", "defaults", dim)
        if dim not in matrix.dimensions:
            yield where, _unknown_dimension(dim, matrix)
        elif value not in matrix.dimensions[dim]:
            yield where, _unknown_value(dim, value, matrix)
    for index, rule in enumerate(matrix.rules):
        base: Location = ("matrix", "rules", index)
        yield from _condition_problems(matrix, rule.when, (*base, "when"))
        yield from _condition_problems(matrix, rule.unless, (*base, "unless"))
        yield from _name_problems(rule.select or (), suites, (*base, "select"))
        yield from _name_problems(rule.exclude, suites, (*base, "exclude"))
        if rule.parametrize is not None:
            at: Location = (*base, "parametrize")
            yield from _name_problems(rule.parametrize.suites, suites, (*at, "suites"))
            texts: dict[Location, str | None] = {
                (*at, "env", k): v for k, v in rule.parametrize.env.items()
            }
            texts[(*at, "markers")] = rule.parametrize.markers
            texts[(*at, "keywords")] = rule.parametrize.keywords
            yield from _placeholder_problems(matrix, texts)


def _condition_problems(
    matrix: Matrix | None, condition: Condition, where: Location
) -> list[Problem]:
    problems: list[Problem] = []
    for dim, values in condition.items():
        if matrix is None:
            problems.append(
                (
                    (*where, dim),
                    f"names matrix dimension '{dim}', but the campaign declares no 'matrix'",
                )
            )
        elif dim not in matrix.dimensions:
            problems.append(((*where, dim), _unknown_dimension(dim, matrix)))
        else:
            problems += [
                ((*where, dim), _unknown_value(dim, v, matrix))
                for v in values
                if v not in matrix.dimensions[dim]
            ]
    return problems


def _name_problems(wanted: tuple[str, ...], suites: set[str], where: Location) -> list[Problem]:
    return [
        ((*where, i), f"names unknown suite '{name}' (suites: {', '.join(sorted(suites))})")
        for i, name in enumerate(wanted)
        if name not in suites
    ]


def _suite_texts(suite: Suite, base: Location) -> dict[Location, str | None]:
    texts: dict[Location, str | None] = {(*base, "env", k): v for k, v in suite.env.items()}
    texts[(*base, "select", "markers")] = suite.select.markers
    texts[(*base, "select", "keywords")] = suite.select.keywords
    texts[(*base, "batch_key")] = suite.batch_key
    return texts


def _placeholder_problems(
    matrix: Matrix | None, texts: Mapping[Location, str | None]
) -> list[Problem]:
    dims = matrix.dimensions if matrix is not None else {}
    problems: list[Problem] = []
    for where, text in texts.items():
        for name in PLACEHOLDER.findall(text or ""):
            if name not in dims:
                declared = ", ".join(dims) or "none: the campaign declares no 'matrix'"
                problems.append(
                    (
                        where,
                        f"placeholder '${{matrix.{name}}}' names no matrix "
                        f"dimension (dimensions: {declared})",
                    )
                )
    return problems


def _unknown_dimension(dim: str, matrix: Matrix) -> str:
    return f"unknown matrix dimension '{dim}' (dimensions: {', '.join(matrix.dimensions)})"


def _unknown_value(dim: str, value: str, matrix: Matrix) -> str:
    allowed = ", ".join(matrix.dimensions[dim])
    return f"'{value}' is not a value of matrix dimension '{dim}' (values: {allowed})"
