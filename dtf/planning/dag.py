"""Orders suites by `depends_on` into levels; a cycle or unknown dependency is a PlanError."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from dtf.errors import PlanError
from dtf.spec.models import Suite


def suite_levels(suites: Sequence[Suite]) -> list[list[str]]:
    """Group suite names into levels: each suite's dependencies all sit in earlier levels."""
    deps = {s.name: tuple(s.depends_on) for s in suites}
    for name, wanted in deps.items():
        for dep in wanted:
            if dep not in deps:
                raise PlanError(f"suite '{name}' depends on unknown suite '{dep}'")
    _reject_cycles(deps)
    level_of: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in level_of:
            level_of[name] = 1 + max((level(d) for d in deps[name]), default=-1)
        return level_of[name]

    levels: list[list[str]] = []
    for suite in suites:  # keeps the file's order inside a level, so plans are deterministic
        index = level(suite.name)
        while len(levels) <= index:
            levels.append([])
        levels[index].append(suite.name)
    return levels


def _reject_cycles(deps: dict[str, tuple[str, ...]]) -> None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name) :], name]
            raise PlanError("suites form a dependency cycle: " + " -> ".join(cycle))
        state[name] = 1
        for dep in deps[name]:
            visit(dep, [*path, name])
        state[name] = 2

    for name in deps:
        visit(name, [])


def dependents_of(suites: Sequence[Suite], failed: str) -> list[str]:
    """Every suite that depends, directly or through others, on `failed`."""
    out: list[str] = []
    frontier = {failed}
    changed = True
    while changed:
        changed = False
        for suite in suites:
            if suite.name not in out and frontier.intersection(suite.depends_on):
                out.append(suite.name)
                frontier.add(suite.name)
                changed = True
    return out


class SuiteStarts:
    """When each suite of a run may start: once every dependency it has in the run has
    finished, not when the whole level before it has. Suites dropped (skipped) never start.

    Dependencies outside `levels` (finished in an earlier attempt of the run) do not hold
    a suite back.
    """

    def __init__(self, levels: Sequence[Sequence[str]], depends_on: Mapping[str, Iterable[str]]):
        self.order = [suite for level in levels for suite in level]
        present = set(self.order)
        self.depends = {s: set(depends_on.get(s, ())) & present for s in self.order}
        self.started: set[str] = set()
        self.finished: set[str] = set()
        self.dropped: set[str] = set()

    def ready(self) -> list[str]:
        """The suites that may start now, in plan order; each is returned once."""
        out = [
            s for s in self.order
            if s not in self.started and s not in self.dropped and self.depends[s] <= self.finished
        ]  # fmt: skip
        self.started.update(out)
        return out

    def finish(self, suite: str) -> None:
        self.finished.add(suite)

    def drop(self, suites: Iterable[str]) -> None:
        self.dropped.update(s for s in suites if s not in self.started)

    def has_dependents(self, suite: str) -> bool:
        return any(suite in deps for deps in self.depends.values())
