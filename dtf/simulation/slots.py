"""Free worker slots of a simulated fleet, found in O(log n) through lazy heaps; pure."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dtf.planning.placement import fits
from dtf.planning.schedule import DEFAULT_NEEDS, Worker

NeedsKey = tuple[tuple[str, float], ...]


def needs_key(needs: Mapping[str, float]) -> NeedsKey:
    """A hashable form of a shard's needs (one CPU when it names none)."""
    return tuple(sorted((needs or DEFAULT_NEEDS).items()))


@dataclass
class SlotPool:
    """Free slots per worker, found through one lazy heap per group of identical workers."""

    workers: Sequence[Worker]
    group_of: list[int] = field(default_factory=list)
    free: list[list[int]] = field(default_factory=list)  # per group: heap of worker indices
    slots: list[int] = field(default_factory=list)
    up: list[bool] = field(default_factory=list)
    prefs: dict[NeedsKey, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        groups: dict[tuple[NeedsKey, int], int] = {}
        for i, worker in enumerate(self.workers):
            gid = groups.setdefault((needs_key(worker.resources), worker.threads), len(groups))
            if gid == len(self.free):
                self.free.append([])
            self.group_of.append(gid)
            self.free[gid].append(i)
            self.slots.append(worker.threads)
            self.up.append(True)
        self.firsts = [self.group_of.index(g) for g in range(len(self.free))]

    def fitting_groups(self, key: NeedsKey) -> list[int]:
        """Groups that fit, preferring those offering fewest resources not needed (as Dask
        placement in estimate_schedule does): CPU shards leave GPU workers to GPU shards."""
        if key not in self.prefs:
            needs = dict(key)
            fitting = [
                g for g, i in enumerate(self.firsts) if fits(needs, self.workers[i].resources)
            ]
            self.prefs[key] = sorted(fitting, key=lambda g: (self._extra(g, needs), g))
        return self.prefs[key]

    def _extra(self, group: int, needs: Mapping[str, float]) -> int:
        return sum(1 for k in self.workers[self.firsts[group]].resources if k not in needs)

    def take(self, key: NeedsKey, exclude: frozenset[str]) -> int | None:
        for gid in self.fitting_groups(key):
            heap = self.free[gid]
            while heap and (not self.up[heap[0]] or self.slots[heap[0]] == 0):
                heapq.heappop(heap)
            chosen = next((w for w in heap if self.workers[w].name not in exclude), None) \
                if exclude else (heap[0] if heap else None)  # fmt: skip
            if chosen is not None and self.up[chosen] and self.slots[chosen] > 0:
                self.slots[chosen] -= 1
                return chosen
        return None

    def give_back(self, worker: int) -> None:
        self.slots[worker] += 1
        if self.up[worker] and self.slots[worker] == 1:
            heapq.heappush(self.free[self.group_of[worker]], worker)

    def revive(self, worker: int) -> None:
        self.up[worker] = True
        self.slots[worker] = self.workers[worker].threads
        heapq.heappush(self.free[self.group_of[worker]], worker)
