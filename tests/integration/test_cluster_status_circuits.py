"""`dtf cluster status` and `dtf recovery circuits` show the breakers stored by campaigns."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dtf.cli import app
from dtf.cluster.local import ClusterInfo
from dtf.recovery.circuit import Circuit, CircuitState
from dtf.store.recovery import all_circuits, load_circuits, save_circuits
from dtf.store.results import ResultStore


def _stored(now: float) -> list[Circuit]:
    """Breakers as campaigns leave them, relative to `now`: built when a test runs, since
    the session may reach this module long after importing it (cool-downs are minutes)."""
    return [
        Circuit(
            "worker",
            "dtf-worker-1",
            CircuitState.OPEN,
            (now - 20, now - 10, now - 5),
            opened_at=now - 5,
            reason="harness: scratch volume missing",
        ),
        # Opened an hour ago: past its five-minute cool-down, it waits for a probe shard.
        Circuit(
            "hardware",
            "cuda",
            CircuitState.OPEN,
            (now - 3600,) * 4,
            opened_at=now - 3600,
            reason="worker_lost: KilledWorker",
        ),
        Circuit("hardware", "cpu", CircuitState.CLOSED, (now - 30,), reason="transient"),
    ]


@pytest.fixture
def now() -> float:
    return time.time()


@pytest.fixture
def store_with_circuits(dtf_home: Path, monkeypatch: pytest.MonkeyPatch, now: float) -> Path:
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns when not on a terminal
    path = dtf_home / "dtf.duckdb"
    dtf_home.mkdir(parents=True)
    store = ResultStore(f"duckdb:///{path}")
    try:
        save_circuits(store, _stored(now))
    finally:
        store.close()
    return path


def test_cluster_status_lists_the_open_and_half_open_circuits_beside_the_workers(
    store_with_circuits: Path, dask_cluster: ClusterInfo, now: float
) -> None:
    args = ["cluster", "status", "--scheduler", dask_cluster.address]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    status = json.loads(result.output)
    assert status["scheduler"] == dask_cluster.address and status["running"] is True
    assert sorted(w["name"] for w in status["workers"]) == ["dtf-worker-0", "dtf-worker-1"]
    circuits = {(c["scope"], c["subject"]): c for c in status["circuits"]}
    assert set(circuits) == {("worker", "dtf-worker-1"), ("hardware", "cuda")}  # not cpu
    worker, cuda = circuits["worker", "dtf-worker-1"], circuits["hardware", "cuda"]
    assert (worker["state"], worker["failures"]) == ("open", 3)
    assert worker["until"] == pytest.approx(now - 5 + 300)
    assert worker["reason"] == "harness: scratch volume missing"
    assert (cuda["state"], cuda["until"]) == ("half_open", None)

    text = CliRunner().invoke(app, args)
    assert text.exit_code == 0, (text.output, text.exception)
    assert "Open circuit breakers" in text.output and "dtf-worker-1" in text.output
    row = next(line for line in text.output.splitlines() if "half_open" in line)
    assert " hardware " in row and " cuda " in row and "KilledWorker" in row


def test_without_a_cluster_the_circuits_still_show_and_the_exit_is_1(
    store_with_circuits: Path,
) -> None:
    result = CliRunner().invoke(app, ["cluster", "status"])
    assert result.exit_code == 1
    assert "not running" in result.output and "dtf-worker-1" in result.output


def test_no_store_means_no_circuits_and_no_store_is_created(dtf_home: Path) -> None:
    result = CliRunner().invoke(app, ["cluster", "status", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output) == {
        "scheduler": None, "running": False, "workers": [], "circuits": [],
    }  # fmt: skip
    assert not (dtf_home / "dtf.duckdb").exists()


def test_recovery_circuits_lists_every_breaker_of_both_scopes(store_with_circuits: Path) -> None:
    result = CliRunner().invoke(app, ["recovery", "circuits", "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    rows = json.loads(result.output)
    assert [(r["scope"], r["subject"], r["state"]) for r in rows] == [
        ("hardware", "cpu", "closed"),
        ("hardware", "cuda", "half_open"),
        ("worker", "dtf-worker-1", "open"),
    ]


def test_breakers_of_both_scopes_round_trip_through_the_store(store_url: str, now: float) -> None:
    store = ResultStore(store_url)
    stored = _stored(now)
    try:
        save_circuits(store, stored)
        save_circuits(store, [stored[1]])  # saving again replaces, never duplicates
        hardware = load_circuits(store, "hardware")
        assert set(hardware) == {"cuda", "cpu"} and set(load_circuits(store)) == {"dtf-worker-1"}
        cuda = hardware["cuda"]
        assert (cuda.state, len(cuda.failures), cuda.opened_at) == (
            CircuitState.OPEN, 4, pytest.approx(now - 3600),
        )  # fmt: skip
        assert [(c.scope, c.subject) for c in all_circuits(store)] == [
            ("hardware", "cpu"), ("hardware", "cuda"), ("worker", "dtf-worker-1"),
        ]  # fmt: skip
    finally:
        store.close()
