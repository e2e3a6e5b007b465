"""The pre-submission placement check: which suites no worker can run, and the message why."""

from __future__ import annotations

from collections.abc import Mapping

from dtf.planning.placement import fits, fleet_summary, hardware_class, parallel_slots, unplaceable
from dtf.planning.shards import Shard

FLEET = {
    "cpu-0": {"cpu": 1.0},
    "cpu-1": {"cpu": 1.0},
    "a100": {"cpu": 1.0, "cuda": 1.0, "gpu_mem_gb": 80.0},
    "rtx": {"cpu": 1.0, "cuda": 1.0, "gpu_mem_gb": 24.0},
    "mi250": {"cpu": 1.0, "rocm": 2.0, "gpu_mem_gb": 64.0},
}


def _shard(suite: str, needs: Mapping[str, float], index: int = 0) -> Shard:
    return Shard(shard_id=f"{suite}-{index}", suite=suite, nodeids=("t.py::x",), needs=needs)


def test_shards_that_some_worker_can_run_are_placeable() -> None:
    shards = [_shard("cpu", {"cpu": 1}), _shard("big", {"cuda": 1, "gpu_mem_gb": 80}),
              _shard("amd", {"rocm": 2})]  # fmt: skip
    assert unplaceable(shards, FLEET) == []


def test_each_unplaceable_suite_is_reported_once_with_its_needs() -> None:
    shards = [_shard("huge", {"cuda": 1, "gpu_mem_gb": 160}, i) for i in range(3)]
    shards.append(_shard("web", {"webgpu": 1}))
    found = unplaceable(shards, FLEET)
    assert [(u.suite, dict(u.needs)) for u in found] == [
        ("huge", {"cuda": 1, "gpu_mem_gb": 160}),
        ("web", {"webgpu": 1}),
    ]


def test_the_message_names_suite_needs_the_shortfall_and_the_fleet() -> None:
    (problem,) = unplaceable([_shard("huge", {"cuda": 1, "gpu_mem_gb": 160})], FLEET)
    assert problem.message(FLEET) == (
        "suite 'huge' needs cuda=1, gpu_mem_gb=160, which no worker offers: "
        "gpu_mem_gb is at most 80 (on a100), 160 needed "
        "(fleet: a100: cpu=1, cuda=1, gpu_mem_gb=80; 2 workers (cpu-0, cpu-1): cpu=1; "
        "mi250: cpu=1, gpu_mem_gb=64, rocm=2; rtx: cpu=1, cuda=1, gpu_mem_gb=24)"
    )


def test_a_resource_nobody_has_is_named() -> None:
    (problem,) = unplaceable([_shard("web", {"webgpu": 1, "cpu": 1})], FLEET)
    assert "which no worker offers: no worker has webgpu (fleet:" in problem.message(FLEET)


def test_needs_met_only_by_different_workers_say_so() -> None:
    # cuda exists (a100) and rocm exists (mi250), but never on the same worker.
    (problem,) = unplaceable([_shard("both", {"cuda": 1, "rocm": 1})], FLEET)
    assert "each is offered, but no single worker offers all of them" in problem.message(FLEET)


def test_an_empty_fleet_places_nothing_and_says_so() -> None:
    (problem,) = unplaceable([_shard("cpu", {"cpu": 1})], {})
    assert problem.message({}).endswith("no worker has cpu (fleet: no workers)")


def test_a_large_fleet_is_summarised_by_groups() -> None:
    fleet = {f"cpu-{i:03d}": {"cpu": 8.0} for i in range(200)}
    assert fleet_summary(fleet) == "200 workers (cpu-000, cpu-001, cpu-002, ...): cpu=8"


def test_fits_compares_every_need_and_hardware_class_ignores_cpu() -> None:
    assert fits({"cuda": 1, "gpu_mem_gb": 24}, FLEET["rtx"])
    assert not fits({"cuda": 1, "gpu_mem_gb": 40}, FLEET["rtx"])
    assert fits({}, {})
    assert hardware_class({"cpu": 1, "gpu_mem_gb": 24, "cuda": 1}) == "cuda+gpu_mem_gb"
    assert hardware_class({"cpu": 2}) == "cpu"


def test_parallel_slots_count_what_the_fleet_runs_at_once() -> None:
    fleet = {"a": {"cpu": 4.0, "cuda": 1.0}, "b": {"cpu": 2.0}, "c": {"cpu": 0.5}}
    assert parallel_slots({"cpu": 1.0}, fleet) == 6
    assert parallel_slots({"cpu": 1.0, "cuda": 1.0}, fleet) == 1
    assert parallel_slots({"cpu": 2.0}, fleet) == 3
    assert parallel_slots({"tpu": 1.0}, fleet) == 0
