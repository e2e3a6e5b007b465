"""Known-answer tests for the campaign simulator (dtf.simulation)."""

from __future__ import annotations

import pytest

from dtf.planning.schedule import Worker
from dtf.recovery.book import Attempt, RecoveryBook
from dtf.recovery.ladder import RecoveryLadder
from dtf.recovery.registry import default_ladder
from dtf.recovery.strategies import GiveUp
from dtf.recovery.taxonomy import ErrorClass, Failure
from dtf.simulation.engine import simulate
from dtf.simulation.model import Faults, Orchestration, Spread
from dtf.simulation.sweep import best_target, sweep_targets
from dtf.simulation.workload import (
    Suite,
    cpu_fleet,
    fleet_classes,
    plan_workload,
    synthetic_suites,
)


def _suite(name: str, *seconds: float, depends_on: tuple[str, ...] = (), **needs: float) -> Suite:
    durations = {f"{name}/test_x.py::test_{i}": s for i, s in enumerate(seconds)}
    return Suite(name, durations, needs or {"cpu": 1.0}, depends_on)


def test_one_worker_runs_shards_back_to_back_with_submission_and_overhead() -> None:
    # LPT cuts 3+2+1 s at a 2 s target into shards of 3, 2 and 1 s, submitted longest first,
    # one a second; each task run adds 0.5 s: 1 + (3.5 + 2.5 + 1.5) = 8.5 s.
    workload = plan_workload([_suite("a", 1.0, 2.0, 3.0)], target_seconds=2.0)
    result = simulate(workload, cpu_fleet(1), default_ladder(),
                      orchestration=Orchestration(submit_rate=1.0, task_overhead=0.5))  # fmt: skip
    assert len(workload.shards) == 3
    assert result.makespan == pytest.approx(8.5)
    assert result.lower_bound == pytest.approx(6.0)
    assert result.queue_delay.max == pytest.approx(4.0)  # the 1 s shard: ready at 3, starts at 7
    assert result.utilization["cpu"].busy_seconds == pytest.approx(7.5)


def test_a_dependent_suite_waits_for_its_dependency() -> None:
    suites = [_suite("a", 4.0), _suite("b", 1.0, depends_on=("a",))]
    workload = plan_workload(suites, target_seconds=10.0)
    orch = Orchestration(submit_rate=1000.0, task_overhead=0.0)
    result = simulate(workload, cpu_fleet(2), default_ladder(), orchestration=orch)
    assert workload.levels == (("a",), ("b",))
    # b could start on the idle second worker at once, but must wait for a: 4 + 1 (+ 2 ms).
    assert result.makespan == pytest.approx(5.002)
    assert result.lower_bound == pytest.approx(5.0)


def test_a_dependent_starts_with_its_dependency_done_not_its_whole_level() -> None:
    suites = [_suite("a", 1.0), _suite("slow", 10.0), _suite("b", 1.0, depends_on=("a",))]
    workload = plan_workload(suites, target_seconds=10.0)
    orch = Orchestration(submit_rate=1000.0, task_overhead=0.0)
    result = simulate(workload, cpu_fleet(2), default_ladder(), orchestration=orch)
    assert workload.levels == (("a", "slow"), ("b",))
    # slow is submitted first (longest first, at 1 ms); b runs on a's worker from about 1 s,
    # beside slow: the run ends with slow, not at 11 s as it would if b waited for the whole
    # first level.
    assert result.makespan == pytest.approx(10.001)


def test_orchestration_load_counts_task_runs_and_the_flow_bound() -> None:
    workload = plan_workload([_suite("a", 1.0, 1.0, 1.0, 1.0)], target_seconds=1.0)
    slow = simulate(workload, cpu_fleet(4), default_ladder(),
                    orchestration=Orchestration(submit_rate=2.0, task_overhead=0.0))  # fmt: skip
    # Submitted at 0.5, 1, 1.5 and 2 s, each runs 1 s on a free worker.
    assert slow.makespan == pytest.approx(3.0)
    load = slow.orchestration
    assert load.task_runs == 4
    assert load.submitting_seconds == pytest.approx(2.0)
    assert load.mean_rate == pytest.approx(4 / 3.0)
    assert load.demand_rate == pytest.approx(4.0)  # 4 slots / 1 s per task run
    assert load.bound
    fast = simulate(workload, cpu_fleet(4), default_ladder(),
                    orchestration=Orchestration(submit_rate=10.0, task_overhead=0.25))  # fmt: skip
    assert not fast.orchestration.bound
    assert fast.orchestration.overhead_share == pytest.approx(4 * 0.25 / (4 * 1.25))


def test_a_lost_worker_is_recovered_by_the_real_ladder() -> None:
    workload = plan_workload([_suite("a", 5.0, 5.0)], target_seconds=100.0)
    fleet = cpu_fleet(2)
    orch = Orchestration(submit_rate=1.0, task_overhead=0.0)
    result = simulate(workload, fleet, default_ladder(), orchestration=orch,
                      faults=Faults(at=((4.0, "cpu-0"),)))  # fmt: skip
    # The ladder's own answer for this failure, asked directly.
    shard = workload.shards[0]
    book = RecoveryBook({w.name: dict(w.resources) for w in fleet})
    attempt = Attempt(shard, book.next_number(shard.shard_id), {"cpu": 1.0})
    failure = Failure(ErrorClass.INFRASTRUCTURE, "worker_lost", "lost", "cpu-0")
    book.worker_failed("cpu-0", 4.0, "lost")
    expected = default_ladder().decide(failure, book.context(attempt, failure, (), 4.0))
    assert [(r.strategy, r.rung, r.worker, r.time) for r in result.recoveries] == [
        (expected.strategy, int(expected.rung), "cpu-0", 4.0)
    ]
    assert expected.strategy == "retry"
    # Started at 1 s, lost at 4 s, resubmitted at 5 s onto cpu-1, 10 s of tests: 15 s.
    assert result.makespan == pytest.approx(15.0)
    assert result.worker_failures == 1
    assert not result.given_up


def test_the_simulation_takes_decisions_from_the_ladder_it_is_given() -> None:
    workload = plan_workload([_suite("a", 5.0)], target_seconds=100.0)
    result = simulate(workload, cpu_fleet(2), RecoveryLadder([GiveUp()]),
                      orchestration=Orchestration(submit_rate=1.0, task_overhead=0.0),
                      faults=Faults(at=((2.0, "cpu-0"),)))  # fmt: skip
    assert [r.strategy for r in result.recoveries] == ["give_up"]
    assert result.given_up == (workload.shards[0].shard_id,)
    assert result.makespan == pytest.approx(0.0)  # nothing ever finished


def test_repeated_deaths_climb_the_ladder_until_it_gives_up() -> None:
    workload = plan_workload([_suite("a", 5.0, 5.0)], target_seconds=100.0)
    faults = Faults(at=((2.0, "cpu-0"), (4.0, "cpu-0"), (6.5, "cpu-1")), restart_seconds=1.0)
    orch = Orchestration(submit_rate=1.0, task_overhead=0.0)
    result = simulate(workload, cpu_fleet(2), default_ladder(), orchestration=orch,
                      faults=faults)  # fmt: skip
    # retry in place, then move off cpu-0; when cpu-1 dies too the ladder splits the shard,
    # but its parts exclude both workers, so (as in the flow) each part finds no healthy
    # worker at submission and the ladder gives it up.
    assert [(r.time, r.shard, r.worker, r.strategy) for r in result.recoveries] == [
        (2.0, "a-000", "cpu-0", "retry"),
        (4.0, "a-000", "cpu-0", "move"),
        (6.5, "a-000", "cpu-1", "isolate"),
        (6.5, "a-000.p0", "", "give_up"),
        (6.5, "a-000.p1", "", "give_up"),
    ]
    assert result.given_up == ("a-000.p0", "a-000.p1")
    # With a third worker the move lands there and the campaign completes.
    spare = simulate(workload, cpu_fleet(3), default_ladder(), orchestration=orch,
                     faults=faults)  # fmt: skip
    assert not spare.given_up
    assert spare.makespan == pytest.approx(15.0)


def test_random_failures_are_deterministic_by_seed() -> None:
    suites = synthetic_suites(400, 4, classes=[{"cpu": 1.0}], median_seconds=2.0, seed=3)
    workload = plan_workload(suites, target_seconds=20.0)

    def run(seed: int) -> dict[str, object]:
        faults = Faults(rate_per_worker_hour=40.0, seed=seed)
        return simulate(workload, cpu_fleet(8), default_ladder(), faults=faults).to_dict()

    first = run(1)
    assert first == run(1)
    assert first["recoveries"]
    assert first != run(2)


def test_synthetic_suites_spread_over_the_fleets_hardware_and_levels() -> None:
    fleet = [Worker("c", {"cpu": 4.0}), Worker("g", {"cpu": 8.0, "cuda": 1.0, "gpu_mem_gb": 80})]
    classes = fleet_classes(fleet)
    assert classes == [{"cpu": 1.0}, {"cpu": 1.0, "cuda": 1.0}]
    suites = synthetic_suites(100, 4, classes=classes, depth=2, seed=0)
    assert sum(len(s.durations) for s in suites) == 100
    assert [dict(s.needs) for s in suites] == [classes[0], classes[1], classes[0], classes[1]]
    assert [s.depends_on for s in suites] == [(), (), ("suite0000",), ("suite0000",)]
    result = simulate(plan_workload(suites, target_seconds=5.0), fleet, default_ladder())
    assert set(result.utilization) == {"cpu", "cuda+gpu_mem_gb"}
    assert 0.0 < result.utilization["cuda+gpu_mem_gb"].utilization <= 1.0
    assert not result.unplaced


def test_shards_no_worker_fits_are_reported_unplaced() -> None:
    workload = plan_workload([_suite("a", 1.0), _suite("g", 1.0, cuda=1.0)], target_seconds=10)
    result = simulate(workload, cpu_fleet(1), default_ladder())
    assert result.unplaced == ("g-000",)
    assert result.shards == 2


def test_a_sweep_shows_the_orchestration_bound_and_the_tail() -> None:
    suites = synthetic_suites(3000, 3, classes=[{"cpu": 1.0}], median_seconds=0.2, seed=1)
    points = sweep_targets(suites, cpu_fleet(50), default_ladder(), [0.5, 10.0, 200.0])
    tiny, mid, huge = (p.result for p in points)
    assert tiny.orchestration.bound and not mid.orchestration.bound
    assert tiny.makespan > mid.makespan < huge.makespan
    best = best_target(points)
    assert best is not None and best.target_seconds == 10.0


def test_spread_of_values() -> None:
    spread = Spread.of([float(v) for v in range(1, 101)])
    assert (spread.mean, spread.p50, spread.p95, spread.max) == (50.5, 51.0, 96.0, 100.0)
    assert Spread.of([]) == Spread()
