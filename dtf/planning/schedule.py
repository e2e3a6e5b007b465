"""Estimates where and when a plan's shards run on a fleet, and the makespan's lower bound."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dtf.planning.placement import fits, hardware_class
from dtf.planning.shards import Shard

# A Dask worker runs one task per thread whatever its resources say; dtf's workers have one.
THREADS = "__threads__"
DEFAULT_NEEDS: Mapping[str, float] = {"cpu": 1.0}


@dataclass(frozen=True)
class Worker:
    """A worker of the fleet a plan is estimated against."""

    name: str
    resources: Mapping[str, float]
    threads: int = 1


@dataclass(frozen=True)
class Placement:
    """One shard's estimated slot on one worker."""

    shard_id: str
    worker: str
    start: float
    end: float


@dataclass(frozen=True)
class LowerBound:
    """No schedule beats the longest dependency chain, nor a hardware class's work/capacity."""

    critical_path: float
    per_class: Mapping[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return max([self.critical_path, *self.per_class.values()])


@dataclass(frozen=True)
class Schedule:
    """A list-scheduling estimate of a plan on a fleet."""

    placements: tuple[Placement, ...]
    makespan: float
    bound: LowerBound
    unplaced: tuple[str, ...] = ()  # shards no worker of the fleet can run

    @property
    def ratio(self) -> float:
        """Estimated makespan over its lower bound (1.0 is optimal)."""
        return self.makespan / self.bound.seconds if self.bound.seconds > 0 else 1.0

    def worker_of(self) -> dict[str, str]:
        return {p.shard_id: p.worker for p in self.placements}


@dataclass
class _Job:
    """Shards that run back to back on one worker: one shard, or a batch sharing a key."""

    rank: int
    shards: list[Shard]
    needs: dict[str, float]

    @property
    def seconds(self) -> float:
        return sum(s.estimated_seconds for s in self.shards)


def submission_order(shards: Sequence[Shard], fleet: Sequence[Worker] | None = None) -> list[Shard]:
    """Higher priority first, then the most loaded hardware, then longest first.

    Shards sharing a batch key stay adjacent. With a `fleet`, shards of the hardware whose
    work per slot is highest (usually the scarce GPUs) go first, so they claim their few
    workers before shards that could run anywhere do. The flow submits in this order, and
    Dask favours earlier submissions among equal priorities.
    """
    pressure = _pressure(shards, fleet) if fleet else {}
    ranked = sorted(
        shards,
        key=lambda s: (
            -s.priority,
            -pressure.get(_key(_needs(s)), 0.0),
            -s.estimated_seconds,
            s.shard_id,
        ),
    )
    by_batch: dict[str, list[Shard]] = {}
    for shard in ranked:
        if shard.batch_key is not None:
            by_batch.setdefault(shard.batch_key, []).append(shard)
    out: list[Shard] = []
    for shard in ranked:
        if shard.batch_key is None:
            out.append(shard)
        elif shard.batch_key in by_batch:
            out += by_batch.pop(shard.batch_key)
    return out


def planned_workers(shards: Sequence[Shard], fleet: Sequence[Worker]) -> dict[str, str]:
    """The worker each shard of one level gets in the estimated schedule (shard id -> name).

    The flow asks Dask to prefer it: otherwise Dask may queue two shards on one worker while
    another idles, until work stealing (a 1 s cycle) moves one.
    """
    suites = sorted({s.suite for s in shards})
    return estimate_schedule(shards, levels=[suites], depends_on={}, fleet=fleet).worker_of()


def estimate_schedule(
    shards: Sequence[Shard],
    *,
    levels: Sequence[Sequence[str]],
    depends_on: Mapping[str, Sequence[str]],
    fleet: Sequence[Worker],
) -> Schedule:
    """Simulate the flow: level by level, each level's shards in submission order.

    A shard starts as soon as a worker has enough free resources and a free thread (of
    those, the one offering fewest resources it does not need); shards sharing a batch key
    run back to back on one worker. Deterministic.
    """
    placeable = [s for s in shards if any(_fits_worker(_needs(s), w) for w in fleet)]
    kept = {s.shard_id for s in placeable}
    unplaced = tuple(sorted(s.shard_id for s in shards if s.shard_id not in kept))
    placements: list[Placement] = []
    clock = 0.0
    for jobs in _level_jobs(placeable, levels, fleet):
        clock = _run_level(jobs, fleet, clock, placements)
    bound = lower_bound(placeable, levels=levels, depends_on=depends_on, fleet=fleet)
    return Schedule(tuple(placements), clock, bound, unplaced)


def _level_jobs(
    shards: Sequence[Shard], levels: Sequence[Sequence[str]], fleet: Sequence[Worker]
) -> list[list[_Job]]:
    level_of = {suite: i for i, level in enumerate(levels) for suite in level}
    grouped: list[list[Shard]] = [[] for _ in levels]
    for shard in shards:
        if shard.suite in level_of:
            grouped[level_of[shard.suite]].append(shard)
    return [_jobs(group, fleet) for group in grouped]


def _jobs(shards: Sequence[Shard], fleet: Sequence[Worker]) -> list[_Job]:
    jobs: list[_Job] = []
    batches: dict[str, _Job] = {}
    for shard in submission_order(shards, fleet):
        job = batches.get(shard.batch_key) if shard.batch_key is not None else None
        if job is None:
            job = _Job(len(jobs), [], {})
            jobs.append(job)
            if shard.batch_key is not None:
                batches[shard.batch_key] = job
        job.shards.append(shard)
        for name, amount in _needs(shard).items():
            job.needs[name] = max(job.needs.get(name, 0.0), amount)
    return _split_unfit(jobs, fleet)


def _split_unfit(jobs: list[_Job], fleet: Sequence[Worker]) -> list[_Job]:
    """A batch whose shards no single worker can all run is run shard by shard instead."""
    out: list[_Job] = []
    for job in jobs:
        if len(job.shards) == 1 or any(_fits_worker(job.needs, w) for w in fleet):
            out.append(_Job(len(out), job.shards, job.needs))
        else:
            out += [_Job(len(out) + i, [s], dict(_needs(s))) for i, s in enumerate(job.shards)]
    return out


def _run_level(
    jobs: list[_Job], fleet: Sequence[Worker], start: float, placements: list[Placement]
) -> float:
    free = [{**w.resources, THREADS: float(w.threads)} for w in fleet]
    queues: dict[tuple[tuple[str, float], ...], list[_Job]] = {}
    for job in jobs:
        queues.setdefault(tuple(sorted(job.needs.items())), []).append(job)
    heads = {key: 0 for key in queues}
    running: list[tuple[float, int, int, _Job]] = []
    clock = end = start
    while True:
        _start_fitting(queues, heads, free, running, clock, placements, fleet)
        if not running:
            return end
        clock, _, index, job = heapq.heappop(running)
        end = max(end, clock)
        free[index] = _release(free[index], job.needs)


def _start_fitting(
    queues: dict[tuple[tuple[str, float], ...], list[_Job]],
    heads: dict[tuple[tuple[str, float], ...], int],
    free: list[dict[str, float]],
    running: list[tuple[float, int, int, _Job]],
    clock: float,
    placements: list[Placement],
    fleet: Sequence[Worker],
) -> None:
    # Jobs with equal needs are interchangeable for fitting, so only each queue's head is
    # tried: the scan costs the number of distinct needs, not the number of waiting jobs.
    while True:
        waiting = sorted((queues[k][heads[k]].rank, k) for k in queues if heads[k] < len(queues[k]))
        for _, key in waiting:
            job = queues[key][heads[key]]
            index = _best_worker(job.needs, free, fleet)
            if index is None:
                continue
            heads[key] += 1
            free[index] = _release(free[index], job.needs, sign=-1.0)
            at = clock
            for shard in job.shards:
                placements.append(Placement(shard.shard_id, fleet[index].name, at,
                                            at + shard.estimated_seconds))  # fmt: skip
                at += shard.estimated_seconds
            heapq.heappush(running, (at, job.rank, index, job))
            break
        else:
            return


def lower_bound(
    shards: Sequence[Shard],
    *,
    levels: Sequence[Sequence[str]],
    depends_on: Mapping[str, Sequence[str]],
    fleet: Sequence[Worker],
) -> LowerBound:
    """max(critical path through the suite DAG, work / concurrent slots per hardware class).

    A suite's weight on the path is its longest shard, or its longest batch: a batch's
    shards run back to back.
    """
    longest: dict[str, float] = {}
    for jobs in _level_jobs(shards, levels, fleet):
        for job in jobs:
            for shard in job.shards:
                longest[shard.suite] = max(longest.get(shard.suite, 0.0), job.seconds)
    path: dict[str, float] = {}

    def chain(suite: str) -> float:
        if suite not in path:
            before = [chain(d) for d in depends_on.get(suite, ()) if d in longest]
            path[suite] = longest.get(suite, 0.0) + max(before, default=0.0)
        return path[suite]

    critical = max((chain(s) for s in longest), default=0.0)
    return LowerBound(critical, _class_bounds(shards, fleet))


def _class_bounds(shards: Sequence[Shard], fleet: Sequence[Worker]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, seconds in _pressure(shards, fleet).items():
        label = hardware_class(dict(key))
        out[label] = max(out.get(label, 0.0), round(seconds, 6))
    return out


NeedsKey = tuple[tuple[str, float], ...]


def _key(needs: Mapping[str, float]) -> NeedsKey:
    return tuple(sorted(needs.items()))


def _pressure(shards: Sequence[Shard], fleet: Sequence[Worker]) -> dict[NeedsKey, float]:
    """Work per concurrent slot for each distinct set of needs the fleet can run."""
    work: dict[NeedsKey, float] = {}
    for shard in shards:
        key = _key(_needs(shard))
        work[key] = work.get(key, 0.0) + shard.estimated_seconds
    out: dict[NeedsKey, float] = {}
    for key, seconds in work.items():
        slots = sum(_slots(dict(key), w) for w in fleet)
        if slots:
            out[key] = seconds / slots
    return out


def _best_worker(
    needs: Mapping[str, float], free: Sequence[Mapping[str, float]], fleet: Sequence[Worker]
) -> int | None:
    """A free worker that fits, preferring one that offers the fewest resources not needed:
    a CPU shard leaves the GPU workers to GPU shards when it can."""
    fitting = [i for i, f in enumerate(free) if _fits_free(needs, f)]
    if not fitting:
        return None
    return min(fitting, key=lambda i: (sum(1 for k in fleet[i].resources if k not in needs), i))


def _slots(needs: Mapping[str, float], worker: Worker) -> int:
    """How many shards with `needs` one worker runs at once."""
    counts = [int(worker.resources.get(k, 0.0) // v) for k, v in needs.items() if v > 0]
    return min([worker.threads, *counts])


def _needs(shard: Shard) -> Mapping[str, float]:
    return shard.needs or DEFAULT_NEEDS


def _fits_worker(needs: Mapping[str, float], worker: Worker) -> bool:
    return worker.threads >= 1 and fits(needs, worker.resources)


def _fits_free(needs: Mapping[str, float], free: Mapping[str, float]) -> bool:
    return free.get(THREADS, 0.0) >= 1 and fits(needs, free)


def _release(
    free: dict[str, float], needs: Mapping[str, float], sign: float = 1.0
) -> dict[str, float]:
    out = dict(free)
    for name, amount in needs.items():
        out[name] = out.get(name, 0.0) + sign * amount
    out[THREADS] = out.get(THREADS, 0.0) + sign
    return out
