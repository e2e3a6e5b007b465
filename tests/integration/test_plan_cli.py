"""`dtf plan` on the quickstart and the matrix example, and `dtf compare` on a DuckDB store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dtf.cli import app
from dtf.cli import planning as planning_cli
from dtf.config import database_url
from dtf.discovery import Discovered
from dtf.errors import DtfError, SpecError
from dtf.execution.outcomes import CaseResult, ShardOutcome
from dtf.store.results import ResultStore, ShardRecord

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart" / "campaign.yaml"
MATRIX = REPO / "examples" / "matrix" / "campaign.yaml"

runner = CliRunner()
_COLLECTED: dict[tuple[str, tuple[str, ...]], Discovered] = {}


@pytest.fixture(autouse=True)
def _collect_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Real pytest collection, but once per selection: each costs seconds on this machine."""
    real = planning_cli.discover

    def cached(source: Path, args: list[str]) -> Discovered:
        key = (str(source), tuple(args))
        if key not in _COLLECTED:
            _COLLECTED[key] = real(source, args)
        return _COLLECTED[key]

    monkeypatch.setattr(planning_cli, "discover", cached)
    yield


def _plan_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["plan", *args, "--json"])
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_plan_prints_dag_shards_placement_and_makespan(dtf_home: Path) -> None:
    result = runner.invoke(app, ["plan", str(QUICKSTART)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "nothing is executed" in out
    assert "level 0: cpu, cuda" in out
    assert "cpu-000" in out and "cuda-000" in out
    assert "Fleet (default local fleet): dtf-worker-0 (cpu=1,cuda=1" in out
    assert "Estimated makespan" in out and "lower bound" in out
    # The quickstart allows a 5% orchestration share, so its 4 s target is not raised.
    assert "(asked" not in out
    assert "no results store yet" in out
    assert not (dtf_home / "dtf.duckdb").exists()  # a dry run creates no store


def test_plan_json_covers_every_test_once_and_places_cuda_on_the_cuda_worker(
    dtf_home: Path,
) -> None:
    doc = _plan_json(str(QUICKSTART))
    suites = {s["name"]: s for s in doc["suites"]}
    assert set(suites) == {"cpu", "cuda"} and doc["dag"]["levels"] == [["cpu", "cuda"]]
    assert sum(s["tests"] for s in doc["shards"]) == sum(s["tests"] for s in suites.values())
    assert suites["cuda"]["tests"] == 4 and suites["cpu"]["tests"] == 24
    for shard in doc["shards"]:
        if shard["suite"] == "cuda":
            assert shard["needs"] == {"cuda": 1.0} and shard["worker"] == "dtf-worker-0"
    assert {s["target_seconds"] for s in doc["suites"]} == {4.0}
    est = doc["estimate"]
    assert est["makespan_seconds"] >= est["lower_bound_seconds"] > 0
    assert est["ratio"] == pytest.approx(
        est["makespan_seconds"] / est["lower_bound_seconds"], abs=1e-3
    )
    assert doc["fleet"]["source"] == "default local fleet" and doc["unplaced"] == []


def test_plan_uses_duration_history_from_the_store(dtf_home: Path) -> None:
    before = {s["name"]: s for s in _plan_json(str(QUICKSTART))["suites"]}
    slow = "tests/test_tensor_ops.py::test_matmul_identity"
    store = ResultStore(database_url())
    try:
        for attempt, seconds in enumerate([6.0, 7.0, 30.0, 900.0]):
            # Median of the quickstart's recent passes: 7 s; the 900 s is another campaign's.
            campaign = "quickstart" if seconds < 900 else "another-project"
            store.start_run(f"old-{attempt}", campaign, source="s", parameters={})
            outcome = ShardOutcome(
                "cpu-000",
                [CaseResult(slow, "passed", seconds)],
                worker="dtf-worker-1",
                hardware="cpu",
            )
            record = ShardRecord(f"old-{attempt}", "cpu-000", "cpu", 0, {"cpu": 1}, 1, 1.0)
            store.write_shard(record, outcome)
    finally:
        store.close()
    after = {s["name"]: s for s in _plan_json(str(QUICKSTART))["suites"]}
    assert after["cpu"]["tests_with_history"] == 1 and after["cuda"]["tests_with_history"] == 0
    assert after["cpu"]["estimated_seconds"] == pytest.approx(
        before["cpu"]["estimated_seconds"] - 0.5 + 7.0
    )


def test_plan_resolves_the_matrix_point(dtf_home: Path) -> None:
    args = [str(MATRIX), "--matrix", "build_environment=cuda", "--matrix", "test_config=inductor"]
    doc = _plan_json(*args)
    assert doc["matrix"]["values"] == {"build_environment": "cuda", "test_config": "inductor"}
    assert doc["dag"]["levels"] == [["smoke"], ["ops", "inductor"]]
    assert list(doc["matrix"]["excluded"]) == ["distributed"]
    shards = doc["shards"]
    assert shards[0]["suite"] == "smoke"  # priority 10 is submitted first
    assert {s["batch_key"] for s in shards if s["suite"] == "inductor"} == {
        "llama",
        "bert",
        "resnet",
    }
    assert {json.dumps(s["needs"]) for s in shards if s["suite"] == "ops"} == {'{"cuda": 1.0}'}
    smoke = _plan_json(str(MATRIX))
    assert [s["name"] for s in smoke["suites"]] == ["smoke"]
    assert smoke["matrix"]["values"] == {"build_environment": "cpu", "test_config": "smoke"}


def test_unknown_matrix_value_names_the_campaign_line_and_field(dtf_home: Path) -> None:
    result = runner.invoke(app, ["plan", str(MATRIX), "--matrix", "build_environment=rocm"])
    assert isinstance(result.exception, SpecError)
    message = str(result.exception)
    assert f"{MATRIX}:10: field 'matrix.dimensions.build_environment'" in message
    assert "'rocm' is not a value" in message


def test_malformed_matrix_option_is_a_usage_error(dtf_home: Path) -> None:
    result = runner.invoke(app, ["plan", str(MATRIX), "--matrix", "build_environment"])
    assert result.exit_code == 2
    assert "NAME=VALUE" in result.output


def test_plan_against_a_fleet_profile(dtf_home: Path, tmp_path: Path) -> None:
    profile = tmp_path / "fleet.yaml"
    profile.write_text(
        "workers:\n"
        "  - {name: gpu, nvidia: [{name: A100, memory_gb: 80}]}\n"
        "  - {name: cpu, count: 3}\n"
    )
    doc = _plan_json(str(QUICKSTART), "--profile", str(profile))
    assert doc["fleet"]["source"] == str(profile)
    assert [w["name"] for w in doc["fleet"]["workers"]] == ["gpu", "cpu-0", "cpu-1", "cpu-2"]
    assert {s["worker"] for s in doc["shards"] if s["suite"] == "cuda"} == {"gpu"}


def test_a_shard_no_worker_can_run_fails_the_plan(dtf_home: Path, tmp_path: Path) -> None:
    campaign = tmp_path / "rocm.yaml"
    campaign.write_text(
        f"name: rocm\nsource: {QUICKSTART.parent}\nsuites:\n"
        "  - {name: amd, requires: {rocm: 1}, select: {paths: [tests/test_tokenizer.py]}}\n"
    )
    result = runner.invoke(app, ["plan", str(campaign)], env={"COLUMNS": "160"})
    assert result.exit_code == 1
    assert "unplaceable:" in result.output and "amd-000" in result.output


# --- dtf compare ---------------------------------------------------------------------------


def _store_run(run_id: str, outcomes: dict[str, tuple[str, float]]) -> None:
    store = ResultStore(database_url())
    try:
        store.start_run(run_id, "quickstart", source="src", parameters={})
        results = [CaseResult(t, o, d) for t, (o, d) in outcomes.items()]  # type: ignore[arg-type]
        outcome = ShardOutcome("cpu-000", results, worker="w", hardware="cpu")
        store.write_shard(
            ShardRecord(run_id, "cpu-000", "cpu", 0, {"cpu": 1}, len(results), 1.0), outcome
        )
    finally:
        store.close()


def test_compare_agreeing_runs_exits_zero(dtf_home: Path) -> None:
    _store_run("a", {"t::x": ("passed", 1.0), "t::y": ("failed", 0.2)})
    _store_run("b", {"t::x": ("passed", 1.1), "t::y": ("failed", 0.2)})
    result = runner.invoke(app, ["compare", "a", "b"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "2 tests in both" in result.output and "the runs agree" in result.output


def test_compare_differing_runs_exits_one_and_shows_the_changes(dtf_home: Path) -> None:
    _store_run("a", {"t::x": ("passed", 1.0), "t::gone": ("passed", 0.1), "t::slow": ("passed", 1)})
    _store_run("b", {"t::x": ("failed", 1.0), "t::new": ("passed", 0.1), "t::slow": ("passed", 9)})
    result = runner.invoke(app, ["compare", "a", "b", "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["agree"] is False and doc["common"] == 2
    kinds = {c["test_id"]: c["kind"] for c in doc["changes"]}
    assert kinds == {
        "t::x": "outcome",
        "t::gone": "only_a",
        "t::new": "only_b",
        "t::slow": "duration",
    }
    text = runner.invoke(app, ["compare", "a", "b"], env={"COLUMNS": "160"})
    assert text.exit_code == 1 and "t::x" in text.output and "the runs differ" in text.output


def test_compare_duration_changes_fail_only_when_asked(dtf_home: Path) -> None:
    _store_run("a", {"t::slow": ("passed", 1.0)})
    _store_run("b", {"t::slow": ("passed", 9.0)})
    assert runner.invoke(app, ["compare", "a", "b"]).exit_code == 0
    assert runner.invoke(app, ["compare", "a", "b", "--durations"]).exit_code == 1


def test_compare_unknown_run_is_an_error(dtf_home: Path) -> None:
    _store_run("a", {"t::x": ("passed", 1.0)})
    result = runner.invoke(app, ["compare", "a", "nope"])
    assert isinstance(result.exception, DtfError)
    assert "no run 'nope'" in str(result.exception)
