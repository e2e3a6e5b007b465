"""The list-scheduling estimator: placement on a fleet, levels, batches, lower bound."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtf.planning.schedule import (
    Schedule,
    Worker,
    estimate_schedule,
    lower_bound,
    planned_workers,
    submission_order,
)
from dtf.planning.shards import Shard

LOCAL = [Worker("w0", {"cpu": 1.0, "cuda": 1.0}), Worker("w1", {"cpu": 1.0})]


def _shard(sid: str, secs: float, suite: str = "s", **kw: object) -> Shard:
    needs = kw.pop("needs", {"cpu": 1.0})
    return Shard(sid, suite, (f"{sid}::t",), needs=needs, estimated_seconds=secs, **kw)  # type: ignore[arg-type]


def _estimate(
    shards: Sequence[Shard],
    fleet: Sequence[Worker] = LOCAL,
    levels: Sequence[Sequence[str]] | None = None,
    deps: dict[str, tuple[str, ...]] | None = None,
) -> Schedule:
    suites = sorted({s.suite for s in shards})
    return estimate_schedule(shards, levels=levels or [suites], depends_on=deps or {}, fleet=fleet)


def test_submission_order_is_priority_then_longest_with_batches_adjacent() -> None:
    shards = [
        _shard("a", 5),
        _shard("b", 50),
        _shard("c", 1, priority=3),
        _shard("d", 40, batch_key="m"),
        _shard("e", 2, batch_key="m"),
    ]
    assert [s.shard_id for s in submission_order(shards)] == ["c", "b", "d", "e", "a"]


def test_lpt_on_two_cpu_workers() -> None:
    shards = [_shard(str(i), secs) for i, secs in enumerate([4, 4, 3, 3, 2, 2])]
    schedule = _estimate(shards)
    assert schedule.makespan == 9.0
    assert schedule.bound.per_class == {"cpu": 9.0}
    assert schedule.ratio == 1.0
    # LPT is not optimal: 8+7 | 6+5+4 takes 15 s, LPT takes 17 s; the ratio shows it.
    lpt = _estimate([_shard(str(i), secs) for i, secs in enumerate([8, 7, 6, 5, 4])])
    assert lpt.makespan == 17.0 and lpt.ratio == pytest.approx(17 / 15)


def test_cuda_shards_only_go_to_the_cuda_worker() -> None:
    shards = [
        _shard("g1", 3, needs={"cuda": 1.0}),
        _shard("g2", 3, needs={"cuda": 1.0}),
        _shard("c1", 2),
    ]
    schedule = _estimate(shards)
    where = schedule.worker_of()
    assert where["g1"] == where["g2"] == "w0"
    assert where["c1"] == "w1"
    assert schedule.makespan == 6.0
    assert schedule.bound.per_class["cuda"] == 6.0


def test_one_thread_per_worker_runs_one_shard_at_a_time() -> None:
    # w0 has both cpu and cuda free, but one thread: a cpu and a cuda shard cannot overlap.
    fleet = [Worker("w0", {"cpu": 1.0, "cuda": 1.0})]
    schedule = _estimate([_shard("g", 4, needs={"cuda": 1.0}), _shard("c", 3)], fleet)
    assert schedule.makespan == 7.0
    wide = [Worker("w0", {"cpu": 1.0, "cuda": 1.0}, threads=2)]
    assert _estimate([_shard("g", 4, needs={"cuda": 1.0}), _shard("c", 3)], wide).makespan == 4.0


def test_resources_limit_concurrency_on_a_many_thread_worker() -> None:
    fleet = [Worker("big", {"cpu": 4.0}, threads=8)]
    shards = [_shard(str(i), 10, needs={"cpu": 2.0}) for i in range(4)]
    schedule = _estimate(shards, fleet)
    assert schedule.makespan == 20.0
    assert schedule.bound.per_class == {"cpu": 20.0}


def test_levels_wait_for_the_previous_level() -> None:
    shards = [_shard("a1", 10, "a"), _shard("b1", 1, "b"), _shard("c1", 2, "c")]
    schedule = _estimate(shards, levels=[["a", "b"], ["c"]], deps={"c": ("b",)})
    start = {p.shard_id: p.start for p in schedule.placements}
    assert start["c1"] == 10.0  # c depends only on b, but the flow waits for the whole level
    assert schedule.makespan == 12.0
    assert schedule.bound.critical_path == 10.0  # max(a=10, b+c=3)


def test_critical_path_follows_dependencies() -> None:
    shards = [_shard("a1", 4, "a"), _shard("b1", 5, "b"), _shard("c1", 6, "c")]
    bound = lower_bound(
        shards, levels=[["a"], ["b"], ["c"]], depends_on={"b": ("a",), "c": ("b",)}, fleet=LOCAL
    )
    assert bound.critical_path == 15.0
    assert bound.seconds == 15.0


def test_batch_runs_back_to_back_on_one_worker() -> None:
    shards = [
        _shard("m1", 5, batch_key="llama"),
        _shard("m2", 5, batch_key="llama"),
        _shard("x", 4),
        _shard("y", 4),
    ]
    schedule = _estimate(shards)
    slots = {p.shard_id: p for p in schedule.placements}
    assert slots["m1"].worker == slots["m2"].worker
    assert slots["m2"].start == slots["m1"].end
    assert schedule.bound.critical_path == 10.0  # the batch is one chain


def test_a_batch_no_single_worker_can_run_whole_is_split() -> None:
    fleet = [Worker("gpu", {"cuda": 1.0}), Worker("cpu", {"cpu": 1.0})]
    shards = [_shard("g", 3, needs={"cuda": 1.0}, batch_key="k"), _shard("c", 3, batch_key="k")]
    schedule = _estimate(shards, fleet)
    assert schedule.worker_of() == {"g": "gpu", "c": "cpu"}
    assert schedule.makespan == 3.0


def test_unplaceable_shards_are_listed_not_scheduled() -> None:
    schedule = _estimate([_shard("r", 3, needs={"rocm": 1.0}), _shard("c", 2)])
    assert schedule.unplaced == ("r",)
    assert [p.shard_id for p in schedule.placements] == ["c"]
    assert "rocm" not in schedule.bound.per_class


def test_empty_plan_has_zero_makespan_and_ratio_one() -> None:
    schedule = _estimate([])
    assert schedule.makespan == 0.0 and schedule.ratio == 1.0


# --- properties ---------------------------------------------------------------------------

NEEDS = st.sampled_from([{"cpu": 1.0}, {"cuda": 1.0}, {"cpu": 2.0}, {"cpu": 1.0, "cuda": 1.0}])


@st.composite
def _cases(draw: st.DrawFn) -> tuple[list[Shard], list[Worker], list[list[str]]]:
    suites = ["s0", "s1", "s2"]
    shards = [
        Shard(
            f"x{i}",
            draw(st.sampled_from(suites)),
            (f"t{i}",),
            needs=draw(NEEDS),
            estimated_seconds=draw(st.floats(min_value=0.0, max_value=100.0)),
            priority=draw(st.integers(0, 2)),
            batch_key=draw(st.sampled_from([None, None, "m1", "m2"])),
        )
        for i in range(draw(st.integers(0, 25)))
    ]
    fleet = [
        Worker(
            f"w{i}",
            {
                "cpu": float(draw(st.integers(1, 4))),
                **({"cuda": 1.0} if draw(st.booleans()) else {}),
            },
            threads=draw(st.integers(1, 3)),
        )
        for i in range(draw(st.integers(1, 4)))
    ]
    levels = draw(st.sampled_from([[suites], [["s0", "s1"], ["s2"]], [["s0"], ["s1"], ["s2"]]]))
    return shards, fleet, levels


@settings(max_examples=200, deadline=None)
@given(_cases())
def test_property_schedule_respects_fleet_levels_and_bound(case) -> None:  # type: ignore[no-untyped-def]
    shards, fleet, levels = case
    deps = {"s2": ("s0",)} if len(levels) > 1 else {}
    schedule = _estimate(shards, fleet, levels, deps)
    by_id = {s.shard_id: s for s in shards}
    workers = {w.name: w for w in fleet}
    placed = [p.shard_id for p in schedule.placements]
    assert sorted(placed + list(schedule.unplaced)) == sorted(by_id)
    assert schedule.makespan >= schedule.bound.seconds - 1e-6
    level_of = {s: i for i, level in enumerate(levels) for s in level}
    for p in schedule.placements:
        shard = by_id[p.shard_id]
        assert all(workers[p.worker].resources.get(k, 0) >= v for k, v in shard.needs.items())
        # Every shard of an earlier level has ended before a later level starts.
        for q in schedule.placements:
            if level_of[by_id[q.shard_id].suite] < level_of[shard.suite]:
                assert q.end <= p.start + 1e-9
    for worker in fleet:  # at no instant does a worker run more than it has
        mine = [p for p in schedule.placements if p.worker == worker.name]
        for p in mine:
            now = [q for q in mine if q.start <= p.start < q.end]
            assert len(now) <= worker.threads
            for name, amount in worker.resources.items():
                used = sum(by_id[q.shard_id].needs.get(name, 0) for q in now)
                assert used <= amount + 1e-9
    for key in ("m1", "m2"):  # a batch that fits one worker runs on one worker per level
        for level in levels:
            batch = [
                p
                for p in schedule.placements
                if by_id[p.shard_id].batch_key == key and by_id[p.shard_id].suite in level
            ]
            needs: dict[str, float] = {}
            for p in batch:
                for k, v in by_id[p.shard_id].needs.items():
                    needs[k] = max(needs.get(k, 0.0), v)
            if any(all(w.resources.get(k, 0) >= v for k, v in needs.items()) for w in fleet):
                assert len({p.worker for p in batch}) <= 1


@settings(max_examples=100, deadline=None)
@given(_cases())
def test_property_estimate_is_deterministic(case) -> None:  # type: ignore[no-untyped-def]
    shards, fleet, levels = case
    assert _estimate(shards, fleet, levels) == _estimate(list(reversed(shards)), fleet, levels)


def test_priority_shards_start_first_when_they_compete() -> None:
    fleet = [Worker("w", {"cpu": 1.0})]
    shards = [_shard("low", 50), _shard("high", 1, priority=5)]
    start = {p.shard_id: p.start for p in _estimate(shards, fleet).placements}
    assert start["high"] == 0.0 and start["low"] == pytest.approx(1.0)


def test_with_a_fleet_the_most_loaded_hardware_is_submitted_first() -> None:
    shards = [_shard("c", 50), _shard("g", 5, needs={"cuda": 1.0})]
    assert [s.shard_id for s in submission_order(shards)] == ["c", "g"]
    # One cuda slot for 5 s of work vs two cpu slots for 50 s: cpu is busier, goes first...
    assert [s.shard_id for s in submission_order(shards, LOCAL)] == ["c", "g"]
    # ...but with four cpu workers the single cuda slot is the bottleneck.
    wide = [*LOCAL, *(Worker(f"x{i}", {"cpu": 1.0}) for i in range(30))]
    more = [*shards, *(_shard(f"g{i}", 5, needs={"cuda": 1.0}) for i in range(9))]
    assert submission_order(more, wide)[0].needs == {"cuda": 1.0}


def test_cpu_shards_leave_the_gpu_worker_to_gpu_shards() -> None:
    fleet = [Worker("gpu", {"cpu": 1.0, "cuda": 1.0}), Worker("cpu", {"cpu": 1.0})]
    shards = [_shard("c1", 6), _shard("g1", 6, needs={"cuda": 1.0})]
    schedule = _estimate(shards, fleet)
    assert schedule.worker_of() == {"c1": "cpu", "g1": "gpu"}
    assert schedule.makespan == 6.0


def test_planned_workers_spread_equal_shards_one_queue_per_worker() -> None:
    # 4 shards of 30 s on 2 one-thread workers: two each, never three on one (Dask may queue
    # them that way when it has no preference, and a worker then idles until it steals one).
    shards = [_shard(f"s-{i}", 30.0) for i in range(4)]
    fleet = [Worker("w0", {"cpu": 1.0}), Worker("w1", {"cpu": 1.0})]
    planned = planned_workers(shards, fleet)
    assert sorted(planned) == ["s-0", "s-1", "s-2", "s-3"]
    assert sorted(planned.values()) == ["w0", "w0", "w1", "w1"]


def test_planned_workers_follow_threads_and_hardware() -> None:
    shards = [_shard("gpu", 50.0, needs={"cuda": 1.0}), *(_shard(f"c{i}", 10.0) for i in range(3))]
    fleet = [Worker("big", {"cpu": 4.0}, threads=3), Worker("gpu-box", {"cuda": 1.0})]
    planned = planned_workers(shards, fleet)
    assert planned == {"gpu": "gpu-box", "c0": "big", "c1": "big", "c2": "big"}
