"""Cuts a suite's tests into shards by longest-processing-time-first packing."""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Grouping = Literal["test", "file", "class"]


@dataclass(frozen=True)
class CollectedTest:
    """One test as pytest collected it."""

    nodeid: str
    suite: str

    @property
    def file(self) -> str:
        return self.nodeid.split("::", 1)[0]

    @property
    def klass(self) -> str:
        parts = self.nodeid.split("::")
        return "::".join(parts[:2]) if len(parts) > 2 else parts[0]


@dataclass(frozen=True)
class Shard:
    """A unit of work: one Prefect task run, one pytest process, on one worker."""

    shard_id: str
    suite: str
    nodeids: tuple[str, ...]
    needs: Mapping[str, float] = field(default_factory=dict)
    estimated_seconds: float = 0.0
    priority: int = 0


def plan_suite_shards(
    suite: str,
    tests: Sequence[CollectedTest],
    *,
    needs: Mapping[str, float],
    history: Mapping[str, float],
    default_seconds: float,
    target_seconds: float,
    max_shards: int,
    grouping: Grouping = "test",
    priority: int = 0,
) -> list[Shard]:
    """Pack `tests` into shards of about `target_seconds` each (LPT), deterministically.

    `history` maps node ids to their expected duration; unknown tests cost `default_seconds`.
    """
    units = _units(tests, grouping, history, default_seconds)
    if not units:
        return []
    total = sum(cost for _, cost, _ in units)
    count = max(1, min(max_shards, len(units), math.ceil(total / target_seconds)))
    bins: list[tuple[float, int]] = [(0.0, i) for i in range(count)]
    members: list[list[str]] = [[] for _ in range(count)]
    loads = [0.0] * count
    # Longest first; ties broken by name so the same inputs always give the same plan.
    for _, cost, ids in sorted(units, key=lambda u: (-u[1], u[0])):
        load, index = heapq.heappop(bins)
        members[index].extend(ids)
        loads[index] = load + cost
        heapq.heappush(bins, (loads[index], index))
    shards = [
        Shard(
            shard_id=f"{suite}-{i:03d}",
            suite=suite,
            nodeids=tuple(ids),
            needs=dict(needs),
            estimated_seconds=round(loads[i], 3),
            priority=priority,
        )
        for i, ids in enumerate(members)
        if ids
    ]
    return shards


def _units(
    tests: Sequence[CollectedTest],
    grouping: Grouping,
    history: Mapping[str, float],
    default_seconds: float,
) -> list[tuple[str, float, list[str]]]:
    groups: dict[str, list[str]] = {}
    for test in tests:
        key = {"test": test.nodeid, "file": test.file, "class": test.klass}[grouping]
        groups.setdefault(key, []).append(test.nodeid)
    return [
        (key, sum(history.get(n, default_seconds) for n in ids), ids) for key, ids in groups.items()
    ]
