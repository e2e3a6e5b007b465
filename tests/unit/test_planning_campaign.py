"""plan_campaign: matrix values, the target floor, batch keys; the plan document."""

from __future__ import annotations

import textwrap

import pytest

from dtf.errors import PlanError
from dtf.execution.planned import read_manifest, write_manifest
from dtf.planning.campaign import plan_campaign, suite_hardware, target_for
from dtf.planning.report import PlanInputs, plan_document
from dtf.planning.schedule import Worker, estimate_schedule
from dtf.spec.load import parse_campaign
from dtf.spec.matrix import resolve_matrix

SPEC = textwrap.dedent(
    """\
    name: c
    defaults: {shard_target_seconds: 4, default_test_seconds: 1}
    matrix:
      dimensions: {device: [cpu, cuda]}
      rules:
        - when: {device: cuda}
          parametrize: {suites: [models], requires: {cuda: 1}, env: {DEVICE: cuda}}
    suites:
      - name: unit
        priority: 5
      - name: models
        depends_on: [unit]
        batch_by: '\\[(\\w+)\\]'
        shard_target_seconds: 30
      - name: slow
        shard_target_seconds: 120
        when: {device: cpu}
    """
)

COLLECTED = {
    "unit": [f"tests/test_u.py::test_{i}" for i in range(25)],
    "models": [f"tests/test_m.py::test_{op}[{m}]" for m in ("llama", "bert") for op in "abc"],
    "slow": ["tests/test_s.py::test_big"],
}


def _plan(device: str):  # type: ignore[no-untyped-def]
    chosen = resolve_matrix(parse_campaign(SPEC, "c.yaml"), {"device": device})
    manifest = plan_campaign(
        chosen.campaign,
        COLLECTED,
        history={},
        run_id="r",
        rootdir="/x",
        python="py",
        matrix=chosen.values,
    )
    return chosen, manifest


def test_matrix_point_decides_suites_needs_and_is_recorded() -> None:
    _, cpu = _plan("cpu")
    assert list(cpu.suites) == ["unit", "models", "slow"] and cpu.matrix == {"device": "cpu"}
    _, cuda = _plan("cuda")
    assert list(cuda.suites) == ["unit", "models"] and cuda.matrix == {"device": "cuda"}
    assert {dict(s.needs)["cuda"] for s in cuda.shards_of("models")} == {1}
    assert cuda.suites["models"].env == {"DEVICE": "cuda"}
    assert cuda.levels == (("unit",), ("models",))


def test_targets_below_the_floor_are_raised_to_it() -> None:
    chosen, manifest = _plan("cpu")
    assert manifest.suites["unit"].target_seconds == pytest.approx(10.0)  # asked 4
    assert manifest.suites["models"].target_seconds == 30.0
    assert target_for(chosen.campaign, chosen.campaign.suite("slow")) == 120.0
    # 25 one-second tests under a 10 s target: three shards, not the seven 4 s would give.
    assert len(manifest.shards_of("unit")) == 3


def test_overhead_share_moves_the_floor() -> None:
    spec = parse_campaign(
        "name: c\ndefaults: {shard_target_seconds: 4, max_overhead_share: 0.05}\n"
        "suites: [{name: a}]\n"
    )
    assert target_for(spec, spec.suite("a")) == pytest.approx(4.0)


def test_batch_keys_and_priorities_reach_the_shards() -> None:
    _, manifest = _plan("cpu")
    assert {s.batch_key for s in manifest.shards_of("models")} == {"llama", "bert"}
    assert {s.priority for s in manifest.shards_of("unit")} == {5}


def test_manifest_round_trips_through_its_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, manifest = _plan("cuda")
    path = write_manifest(manifest, tmp_path / "m.json")
    assert read_manifest(path) == manifest


def test_nothing_collected_is_a_plan_error() -> None:
    chosen = resolve_matrix(parse_campaign(SPEC, "c.yaml"), {"device": "cpu"})
    with pytest.raises(PlanError, match="selects no tests"):
        plan_campaign(chosen.campaign, {}, history={}, run_id="r", rootdir="/x", python="py")


def test_history_is_kept_per_hardware_class() -> None:
    chosen, _ = _plan("cuda")
    assert suite_hardware(chosen.campaign) == {"unit": "cpu", "models": "cuda"}


def test_plan_document_lists_every_shard_once_with_its_placement() -> None:
    chosen, manifest = _plan("cuda")
    fleet = [Worker("w0", {"cpu": 1.0, "cuda": 1.0}), Worker("w1", {"cpu": 1.0})]
    schedule = estimate_schedule(
        manifest.shards, levels=manifest.levels, depends_on=manifest.depends_on(), fleet=fleet
    )
    doc = plan_document(
        manifest,
        schedule,
        fleet,
        PlanInputs(
            "c.yaml", "test fleet", excluded=chosen.excluded, requested_targets={"unit": 4.0}
        ),
    )
    assert sorted(s["shard_id"] for s in doc["shards"]) == sorted(
        s.shard_id for s in manifest.shards
    )
    assert doc["shards"][0]["priority"] == 5  # submission order: priority first
    assert {s["worker"] for s in doc["shards"] if s["suite"] == "models"} == {"w0"}
    assert doc["matrix"]["excluded"].keys() == {"slow"}
    unit = next(s for s in doc["suites"] if s["name"] == "unit")
    assert (unit["target_seconds"], unit["requested_target_seconds"]) == (10.0, 4.0)
    est = doc["estimate"]
    assert est["makespan_seconds"] >= est["lower_bound_seconds"] > 0
    models_start = min(s["start"] for s in doc["shards"] if s["suite"] == "models")
    assert models_start >= max(s["end"] for s in doc["shards"] if s["suite"] == "unit")
