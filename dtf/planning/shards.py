"""Cuts a suite's tests into shards by longest-processing-time-first packing."""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Grouping = Literal["test", "file", "class"]

# DESIGN.md section 6 (Prefect 3.8.8, prefect-dask 0.3.7, measured on a 2-core host): one task
# run through DaskTaskRunner costs 84-200 ms. Plan with the worst case.
TASK_OVERHEAD_SECONDS = 0.2
# Issue 5: orchestration may take at most this share of a shard's run time.
MAX_OVERHEAD_SHARE = 0.02
# Below this target, one task's overhead exceeds MAX_OVERHEAD_SHARE of its shard: 10 s.
MIN_TARGET_SECONDS = TASK_OVERHEAD_SECONDS / MAX_OVERHEAD_SHARE
# With the fleet known, a shard may run this share past its target when that saves a whole
# round: 121 s of work on 2 slots at a 60 s target is 2 shards of 60.5 s, not 4 of 30 s, each
# of which pays a process start and a dispatch (benchmarks/overhead_vs_xdist.py, skewed suite).
ROUND_SLACK = 0.1


def target_floor(max_overhead_share: float = MAX_OVERHEAD_SHARE) -> float:
    """The shortest shard target for which per-task overhead stays within the given share."""
    return TASK_OVERHEAD_SECONDS / max_overhead_share


def effective_target(requested: float, max_overhead_share: float = MAX_OVERHEAD_SHARE) -> float:
    """`requested`, raised to the floor that keeps Prefect's overhead within its share."""
    return max(requested, target_floor(max_overhead_share))


@dataclass(frozen=True)
class CollectedTest:
    """One test as pytest collected it."""

    nodeid: str
    suite: str

    @property
    def file(self) -> str:
        return _file_of(self.nodeid)

    @property
    def klass(self) -> str:
        """`file::Class` for a method, the file for a module-level function."""
        return _class_of(self.nodeid)


def _path_parts(nodeid: str) -> list[str]:
    # A parametrize id may itself contain '::' (test_x[a::b]); only the part before '[' counts.
    return nodeid.split("[", 1)[0].split("::")


@dataclass(frozen=True)
class Shard:
    """A unit of work: one Prefect task run, one pytest process, on one worker."""

    shard_id: str
    suite: str
    nodeids: tuple[str, ...]
    needs: Mapping[str, float] = field(default_factory=dict)
    estimated_seconds: float = 0.0
    priority: int = 0
    batch_key: str | None = None


@dataclass(frozen=True)
class _Unit:
    """Tests that must share a shard (one test, or a whole file or class)."""

    key: str
    cost: float
    ids: tuple[tuple[int, str], ...]  # (collection index, node id): shards keep pytest's order
    batch: str | None


@dataclass
class _Bin:
    batch: str | None
    load: float = 0.0
    members: list[tuple[int, str]] = field(default_factory=list)
    batches: set[str | None] = field(default_factory=set)


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
    batch_key: str | None = None,
    batch_by: str | None = None,
    slots: int | None = None,
) -> list[Shard]:
    """Pack `tests` into shards of at most `target_seconds` each (LPT), deterministically.

    `slots`, when the fleet is known, is how many of these shards run at once: the shard
    count is then fixed (see `balanced_count`) and a shard may pass the target a little
    rather than spill into one more shard that the rest of the fleet waits for.

    `history` maps node ids to their expected duration; unknown tests cost `default_seconds`.
    A shard exceeds the target only when one unit (a test, or a file/class under grouping)
    does, or when `max_shards` leaves no room. Tests with different batch keys (`batch_by`,
    a regex whose group is the key, else the suite's `batch_key`) never share a shard unless
    the cap forces it.
    """
    units = _units(tests, grouping, history, default_seconds, batch_key, batch_by)
    if not units:
        return []
    if slots is not None and len({u.batch for u in units}) == 1:
        total = sum(u.cost for u in units)
        max_shards = min(max_shards, balanced_count(total, len(units), target_seconds, slots))
        target_seconds = total / max_shards  # plain LPT over exactly that many shards
    bins = _pack(units, target_seconds, max_shards)
    width = max(3, len(str(len(bins) - 1)))
    return [
        Shard(
            shard_id=f"{suite}-{i:0{width}d}",
            suite=suite,
            nodeids=tuple(n for _, n in sorted(b.members)),
            needs=dict(needs),
            estimated_seconds=round(b.load, 3),
            priority=priority,
            batch_key=b.batch if len(b.batches) == 1 else None,
        )
        for i, b in enumerate(bins)
    ]


def balanced_count(total: float, units: int, target: float, slots: int) -> int:
    """Shards for `total` seconds of work on `slots` parallel slots: whole rounds of one shard
    per slot, so no slot idles in the last round, each shard at most ROUND_SLACK past the
    target; as many as the target asks when whole rounds would fall under the overhead floor.
    """
    wanted = max(1, math.ceil(total / target - 1e-9))
    slots = max(1, slots)
    rounds = max(1, math.ceil(total / (slots * target * (1 + ROUND_SLACK)) - 1e-9))
    rounded = rounds * slots
    if total / rounded >= target_floor():
        wanted = rounded
    return max(1, min(units, wanted))


def _pack(units: list[_Unit], target: float, cap: int) -> list[_Bin]:
    by_batch: dict[str | None, list[_Unit]] = {}
    for unit in units:
        by_batch.setdefault(unit.batch, []).append(unit)
    order = sorted(by_batch, key=lambda b: (b is not None, b or ""))
    wanted = [
        max(1, min(len(by_batch[b]), math.ceil(sum(u.cost for u in by_batch[b]) / target)))
        for b in order
    ]
    bins: list[_Bin] = []
    heaps: dict[str | None, list[tuple[float, int]]] = {}
    # Open about as many shards as each batch needs up front, so LPT spreads work evenly
    # rather than filling one shard to the target and leaving the last one nearly empty.
    for batch, count in zip(order, _allocate(wanted, cap), strict=True):
        heaps[batch] = [(0.0, len(bins) + i) for i in range(count)]
        bins += [_Bin(batch) for _ in range(count)]
    # Longest first; ties broken by name so the same inputs always give the same plan.
    for unit in sorted(units, key=lambda u: (-u.cost, u.key, u.batch or "")):
        index = _choose_bin(unit, target, cap, bins, heaps)
        chosen = bins[index]
        chosen.load += unit.cost
        chosen.members.extend(unit.ids)
        chosen.batches.add(unit.batch)
    return [b for b in bins if b.members]


def _allocate(wanted: list[int], cap: int) -> list[int]:
    """Shards to open per batch: as wanted, or shares of the cap (one each while it lasts)."""
    total = sum(wanted)
    if total <= cap:
        return wanted
    share = [max(1, w * cap // total) for w in wanted]
    while sum(share) > cap:
        largest = max(range(len(share)), key=lambda i: (share[i], i))
        share[largest] -= 1
    return share


# Loads are sums of floats: a shard that reaches its target exactly must still count as within.
_SLACK = 1e-9


def _choose_bin(
    unit: _Unit,
    target: float,
    cap: int,
    bins: list[_Bin],
    heaps: dict[str | None, list[tuple[float, int]]],
) -> int:
    heap = heaps[unit.batch]
    if heap and (
        heap[0][0] + unit.cost <= target + _SLACK or heap[0][0] == 0.0 or len(bins) >= cap
    ):
        _, index = heapq.heappop(heap)
    elif len(bins) < cap:
        index = len(bins)
        bins.append(_Bin(unit.batch))
    else:
        # The cap is reached and this batch got no shard of its own: share the lightest one.
        index = min(range(len(bins)), key=lambda i: (bins[i].load, i))
        home = heaps[bins[index].batch]
        home[:] = [(load, i) for load, i in home if i != index]
        heapq.heapify(home)
        heapq.heappush(home, (bins[index].load + unit.cost, index))
        return index
    heapq.heappush(heap, (bins[index].load + unit.cost, index))
    return index


def _units(
    tests: Sequence[CollectedTest],
    grouping: Grouping,
    history: Mapping[str, float],
    default_seconds: float,
    batch_key: str | None,
    batch_by: str | None,
) -> list[_Unit]:
    pattern = re.compile(batch_by) if batch_by else None
    key_of = _GROUP_KEYS[grouping]
    groups: dict[tuple[str | None, str], list[tuple[int, str]]] = {}
    for index, test in enumerate(tests):
        nodeid = test.nodeid
        batch = _batch_of(nodeid, pattern, batch_key) if pattern else batch_key
        groups.setdefault((batch, key_of(nodeid)), []).append((index, nodeid))
    units = []
    for (batch, key), ids in groups.items():
        cost = sum([history.get(n, default_seconds) for _, n in ids])
        units.append(_Unit(key=key, cost=cost, ids=tuple(ids), batch=batch))
    return units


def _file_of(nodeid: str) -> str:
    return _path_parts(nodeid)[0]


def _class_of(nodeid: str) -> str:
    parts = _path_parts(nodeid)
    return "::".join(parts[:2]) if len(parts) > 2 else parts[0]


_GROUP_KEYS: dict[str, Callable[[str], str]] = {"test": str, "file": _file_of, "class": _class_of}


def _batch_of(nodeid: str, pattern: re.Pattern[str] | None, default: str | None) -> str | None:
    if pattern is not None:
        match = pattern.search(nodeid)
        if match and match.group(1):
            return match.group(1)
    return default
