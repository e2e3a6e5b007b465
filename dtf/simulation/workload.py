"""Builds the campaign a simulation replays: tests, durations, suites, and dtf's real plan."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dtf.planning.placement import CPU
from dtf.planning.schedule import Worker
from dtf.planning.shards import CollectedTest, Shard, plan_suite_shards

# The spec's default when a suite names no cap; a simulation of a huge campaign may lift it.
DEFAULT_MAX_SHARDS = 1_000_000


@dataclass(frozen=True)
class Suite:
    """One suite of a simulated campaign: its tests' true durations and its needs."""

    name: str
    durations: Mapping[str, float]  # node id -> seconds, in collection order
    needs: Mapping[str, float] = field(default_factory=lambda: {CPU: 1.0})
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Workload:
    """The plan a simulation replays: shards as dtf's planner cut them, and the suite DAG."""

    shards: tuple[Shard, ...]
    levels: tuple[tuple[str, ...], ...]
    depends_on: Mapping[str, tuple[str, ...]]
    tests: int
    test_seconds: float
    target_seconds: float


def fleet_classes(fleet: Sequence[Worker]) -> list[dict[str, float]]:
    """One shard need per distinct kind of worker: a CPU, plus the worker's first special
    resource when it has one (e.g. `cuda`), so synthetic suites spread over the fleet."""
    seen: dict[tuple[tuple[str, float], ...], None] = {}
    for worker in fleet:
        special = sorted(k for k, v in worker.resources.items() if k != CPU and v >= 1)
        needs = {CPU: 1.0, **({special[0]: 1.0} if special else {})}
        seen.setdefault(tuple(sorted(needs.items())), None)
    return [dict(key) for key in seen]


def synthetic_suites(
    tests: int,
    suites: int,
    *,
    classes: Sequence[Mapping[str, float]],
    median_seconds: float = 0.5,
    sigma: float = 1.0,
    depth: int = 1,
    seed: int = 0,
) -> list[Suite]:
    """`tests` tests over `suites` suites with lognormal durations (a few long, many short).

    Suite i needs `classes[i % len(classes)]`; suites fall into `depth` dependency levels,
    each suite of a level depending on the first suite of the level before.
    """
    rng = random.Random(seed)
    mu = math.log(median_seconds)
    suites = max(1, min(suites, tests))
    names = [f"suite{i:04d}" for i in range(suites)]
    durations: list[dict[str, float]] = [{} for _ in names]
    draw = rng.lognormvariate
    for j in range(tests):
        durations[j % suites][f"tests/test_m{j // 500}.py::test_{j}"] = draw(mu, sigma)
    level_of = [i * max(1, depth) // suites for i in range(suites)]
    first = {level: level_of.index(level) for level in set(level_of)}
    return [
        Suite(
            name,
            durations[i],
            dict(classes[i % len(classes)]) if classes else {CPU: 1.0},
            (names[first[level_of[i] - 1]],) if level_of[i] > 0 else (),
        )
        for i, name in enumerate(names)
    ]


def plan_workload(
    suites: Sequence[Suite],
    *,
    target_seconds: float,
    default_seconds: float = 1.0,
    max_shards: int = DEFAULT_MAX_SHARDS,
) -> Workload:
    """Cut every suite with dtf's own planner, its history being the tests' true durations."""
    shards: list[Shard] = []
    for suite in suites:
        collected = [CollectedTest(n, suite.name) for n in suite.durations]
        shards += plan_suite_shards(
            suite.name,
            collected,
            needs=suite.needs,
            history=suite.durations,
            default_seconds=default_seconds,
            target_seconds=target_seconds,
            max_shards=max_shards,
        )
    depends = {s.name: s.depends_on for s in suites}
    return Workload(
        shards=tuple(shards),
        levels=_levels(suites),
        depends_on=depends,
        tests=sum(len(s.durations) for s in suites),
        test_seconds=sum(sum(s.durations.values()) for s in suites),
        target_seconds=target_seconds,
    )


def _levels(suites: Sequence[Suite]) -> tuple[tuple[str, ...], ...]:
    """Suites by dependency depth (the generator and history loader make no cycles)."""
    deps = {s.name: s.depends_on for s in suites}
    depth: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max((level(d) for d in deps.get(name, ()) if d in deps), default=-1)
        return depth[name]

    grouped: dict[int, list[str]] = {}
    for suite in suites:
        grouped.setdefault(level(suite.name), []).append(suite.name)
    return tuple(tuple(grouped[k]) for k in sorted(grouped))


def cpu_fleet(workers: int, prefix: str = "cpu") -> list[Worker]:
    """`workers` one-slot CPU workers, as `dtf cluster up --workers N` starts them."""
    width = len(str(max(workers - 1, 0)))
    return [Worker(f"{prefix}-{i:0{width}d}", {CPU: 1.0}) for i in range(workers)]
