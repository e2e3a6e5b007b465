"""Recovery on real workers: killed workers, broken workers, missing hardware, flaky tests,
and an interrupted flow resumed; every result present exactly once."""

from __future__ import annotations

import os
import signal
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from dtf.cluster.local import cluster_status
from dtf.recovery.circuit import Circuit, CircuitState
from dtf.services import spawn, stop
from dtf.store.recovery import events_of, load_circuits, save_circuits
from dtf.store.results import ResultStore
from tests.conftest import FIXTURES
from tests.e2e.conftest import DtfCommand

CHAOS = FIXTURES / "chaos"
pytestmark = pytest.mark.e2e


def _campaign(tmp_path: Path, suites: list[dict[str, object]], **defaults: object) -> Path:
    chaos_dir = tmp_path / "chaos-flags"
    chaos_dir.mkdir()
    for suite in suites:
        suite.setdefault("env", {"DTF_CHAOS_DIR": str(chaos_dir)})
    # A high overhead share lets these tiny tests form several shards (the default floor,
    # sized for a 2% orchestration share, would pack them into one).
    defaults = {"default_test_seconds": 1, "shard_target_seconds": 3,
                "max_overhead_share": 0.5, **defaults}  # fmt: skip
    spec = {"name": "chaos", "source": str(CHAOS), "suites": suites, "defaults": defaults}
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _latest(dtf_cli: DtfCommand) -> tuple[ResultStore, str]:
    store = ResultStore(f"duckdb:///{dtf_cli.home / 'dtf.duckdb'}")
    return store, str(store.recent_runs(1)[0]["run_id"])


def _one_row_per_test(store: ResultStore, run_id: str, attempt_rows: bool = False) -> list[dict]:
    rows = store.results_of(run_id)
    latest: dict[str, dict] = {}
    for row in rows:
        if row["test_id"] not in latest or row["attempt"] > latest[row["test_id"]]["attempt"]:
            latest[row["test_id"]] = row
    return list(latest.values())


def test_a_killed_worker_costs_nothing_the_shard_completes_elsewhere(
    dtf_cli: DtfCommand, tmp_path: Path
) -> None:
    campaign = _campaign(
        tmp_path, [{"name": "killer", "select": {"paths": ["tests/test_worker_killer.py"]}}]
    )
    done = dtf_cli("run", str(campaign))
    assert done.returncode == 0, done.stdout + done.stderr
    store, run_id = _latest(dtf_cli)
    rows = store.results_of(run_id)
    assert sorted(r["test_id"] for r in rows) == sorted(
        f"tests/test_worker_killer.py::{n}"
        for n in ("test_before_the_kill", "test_kills_its_worker_once", "test_after_the_kill")
    )  # exactly once each: the dead attempt left no rows
    assert all(r["outcome"] == "passed" and r["attempt"] == 1 for r in rows)
    events = events_of(store, run_id)
    assert [(e["error_class"], e["outcome"]) for e in events] == [("worker_lost", "recovered")]
    assert events[0]["worker"].startswith("dtf-worker-")
    store.close()


def test_a_flaky_test_is_reported_flaky_never_passed(dtf_cli: DtfCommand, tmp_path: Path) -> None:
    campaign = _campaign(tmp_path, [{"name": "flaky", "reruns": 1,
                                     "select": {"paths": ["tests/test_flaky.py"]}}])  # fmt: skip
    done = dtf_cli("run", str(campaign))
    assert done.returncode == 0, done.stdout + done.stderr
    store, run_id = _latest(dtf_cli)
    rows = sorted(store.results_of(run_id), key=lambda r: r["attempt"])
    assert [(r["attempt"], r["outcome"]) for r in rows] == [(0, "failed"), (1, "flaky")]
    assert "failed on attempt 0" in rows[1]["message"]
    counts = {r["outcome"]: r["n"] for r in store.outcome_counts(run_id)}
    assert counts == {"flaky": 1}
    store.close()
    report = tmp_path / "junit.xml"
    assert dtf_cli("junit", run_id, "--output", str(report)).returncode == 0
    [case] = ET.parse(report).getroot().findall(".//testcase")
    assert case.get("name") == "test_fails_once_then_passes"
    assert case.find("flakyFailure") is not None and case.find("failure") is None


def test_missing_hardware_falls_back_and_marks_results_degraded(
    dtf_cli: DtfCommand, tmp_path: Path
) -> None:
    campaign = _campaign(tmp_path, [{"name": "tpu", "requires": {"tpu": 1},
                                     "fallbacks": [{"cpu": 1}],
                                     "select": {"paths": ["tests/test_worker_killer.py"],
                                                "keywords": "not kills"}}])  # fmt: skip
    done = dtf_cli("run", str(campaign))
    assert done.returncode == 0, done.stdout + done.stderr
    store, run_id = _latest(dtf_cli)
    shards = store.shards_of(run_id)
    assert [s["status"] for s in shards] == ["degraded"]
    rows = store.results_of(run_id)
    assert {r["hardware"] for r in rows} == {"cpu"} and all(r["degraded"] for r in rows)
    assert f"degraded: ran on fallback hardware: tpu ({len(rows)})" in done.stdout
    assert [e["strategy"] for e in events_of(store, run_id)] == ["fallback"]
    store.close()


def test_a_broken_worker_opens_its_circuit_and_the_campaign_completes(
    dtf_cli: DtfCommand, tmp_path: Path
) -> None:
    assert dtf_cli("cluster", "up").returncode == 0
    info = cluster_status(dtf_cli.home)
    assert info is not None
    # A worker whose scratch volume is gone: every shard it takes fails in the harness.
    env = {**os.environ, "DTF_SCRATCH": str(tmp_path / "no-such-volume"),
           "DTF_WORKER_PROFILE": '{"name": "broken-worker"}'}  # fmt: skip
    dask = str(Path(sys.executable).with_name("dask"))
    pid = spawn([dask, "worker", info.address, "--name", "broken-worker", "--nthreads", "1",
                 "--resources", "cpu=1", "--no-dashboard"], log=tmp_path / "broken.log",
                env=env, cwd=tmp_path)  # fmt: skip
    try:
        _wait_for_worker(dtf_cli, "broken-worker")
        slow = {"name": "slow", "select": {"paths": ["tests/test_slow.py"]}}
        campaign = _campaign(tmp_path, [slow], shard_target_seconds=1)
        done = dtf_cli("run", str(campaign))
        assert done.returncode == 0, done.stdout + done.stderr
        store, run_id = _latest(dtf_cli)
        rows = store.results_of(run_id)
        assert len(rows) == 12 and {r["outcome"] for r in rows} == {"passed"}
        assert "broken-worker" not in {r["worker"] for r in rows}
        broken = [e for e in events_of(store, run_id) if e["worker"] == "broken-worker"]
        assert broken and all(e["error_class"] == "harness" for e in broken)
        if len(broken) >= 3:
            assert load_circuits(store)["broken-worker"].state.value == "open"
        store.close()
    finally:
        stop(pid)


def test_a_hardware_class_whose_every_worker_fails_opens_and_its_shards_fall_back(
    dtf_cli: DtfCommand, tmp_path: Path, server_environment: dict[str, str]
) -> None:
    assert dtf_cli("cluster", "up").returncode == 0
    info = cluster_status(dtf_cli.home)
    assert info is not None
    # Both workers of the `special` class lost their scratch volume: every shard fails there.
    env = {**os.environ, **server_environment, "DTF_SCRATCH": str(tmp_path / "gone")}
    dask = str(Path(sys.executable).with_name("dask"))
    names = ["special-broken-0", "special-broken-1"]
    pids = [spawn([dask, "worker", info.address, "--name", name, "--nthreads", "1",
                   "--resources", "special=1", "--no-dashboard"], log=tmp_path / f"{name}.log",
                  env=env, cwd=tmp_path) for name in names]  # fmt: skip
    try:
        for name in names:
            _wait_for_worker(dtf_cli, name)
        suite = {"name": "special", "requires": {"special": 1}, "fallbacks": [{"cpu": 1}],
                 "select": {"paths": ["tests/test_slow.py"], "keywords": "not 1"}}  # fmt: skip
        campaign = _campaign(tmp_path, [suite], shard_target_seconds=1)
        first = dtf_cli("run", str(campaign))
        assert first.returncode == 0, first.stdout + first.stderr
        now = cluster_status(dtf_cli.home)  # a changed dtf code restarts it, without them
        assert now is not None and now.address == info.address, "the cluster was restarted"
        store, run_id = _latest(dtf_cli)
        rows = store.results_of(run_id)
        assert len(rows) == 9 and {r["outcome"] for r in rows} == {"passed"}
        assert {r["hardware"] for r in rows} == {"cpu"}
        assert not {r["worker"] for r in rows} & set(names)
        assert {s["status"] for s in store.shards_of(run_id)} == {"degraded"}
        events = events_of(store, run_id)
        assert {e["worker"] for e in events if e["error_class"] == "harness"} == set(names)
        # Once both workers had failed, the class opened: every shard went to the fallback,
        # none was retried or moved within the class any more.
        strategies = [e["strategy"] for e in events]
        assert strategies.count("fallback") == 9 and "fallback" not in strategies[:2]
        assert set(strategies[strategies.index("fallback") :]) == {"fallback"}
        circuit = load_circuits(store, "hardware")["special"]
        assert circuit.state.value == "open" and str(tmp_path / "gone") in circuit.reason
        store.close()
        # The open class is remembered: the next run sends nothing to it, straight to fallback.
        second = dtf_cli("run", str(campaign))
        assert second.returncode == 0, second.stdout + second.stderr
        store, run_id = _latest(dtf_cli)
        events = events_of(store, run_id)
        assert len(events) == 9 and not {e["worker"] for e in events} - {""}
        assert {(e["error_class"], e["strategy"], e["outcome"]) for e in events} == {
            ("circuit_open", "fallback", "recovered")
        }
        assert "hardware circuit 'special' is open" in events[0]["message"]
        assert {s["status"] for s in store.shards_of(run_id)} == {"degraded"}
        # Past the cool-down (as if it had opened an hour ago) the class takes one probe
        # shard and holds the others; the probe fails, the class opens again, and the eight
        # held shards go to the fallback without ever reaching the broken workers.
        opened = time.time() - 3600
        stored = [load_circuits(store, "hardware")["special"],
                  *(load_circuits(store)[name] for name in names)]  # fmt: skip
        save_circuits(store, [replace(c, opened_at=opened) for c in stored])
        store.close()
        third = dtf_cli("run", str(campaign))
        assert third.returncode == 0, third.stdout + third.stderr
        store, run_id = _latest(dtf_cli)
        events = events_of(store, run_id)
        assert [e["error_class"] for e in events].count("harness") == 1
        assert [e["error_class"] for e in events].count("circuit_open") == 8
        assert {e["strategy"] for e in events} == {"fallback"}
        reopened = load_circuits(store, "hardware")["special"]
        assert reopened.state.value == "open" and reopened.opened_at > opened + 3000
        store.close()
    finally:
        for pid in pids:
            stop(pid)


def test_a_half_open_class_closes_when_its_probe_passes(
    dtf_cli: DtfCommand, tmp_path: Path
) -> None:
    store = ResultStore(f"duckdb:///{dtf_cli.home / 'dtf.duckdb'}")
    opened = time.time() - 3600  # long past its cool-down: half-open
    save_circuits(store, [Circuit("hardware", "cpu", CircuitState.OPEN, (opened,) * 3,
                                  opened_at=opened, reason="driver reset")])  # fmt: skip
    store.close()
    try:
        suite = {"name": "slow", "select": {"paths": ["tests/test_slow.py"], "keywords": "not 1"}}
        done = dtf_cli("run", str(_campaign(tmp_path, [suite], shard_target_seconds=1)))
        assert done.returncode == 0, done.stdout + done.stderr
        store, run_id = _latest(dtf_cli)
        rows = store.results_of(run_id)
        assert len(rows) == 9 and {r["outcome"] for r in rows} == {"passed"}
        assert len({r["worker"] for r in rows}) == 2
        assert {s["status"] for s in store.shards_of(run_id)} == {"done"}
        assert events_of(store, run_id) == []
        circuit = load_circuits(store, "hardware")["cpu"]
        assert (circuit.state, circuit.reason) == (CircuitState.CLOSED, "probe succeeded")
        store.close()
    finally:
        store = ResultStore(f"duckdb:///{dtf_cli.home / 'dtf.duckdb'}")
        save_circuits(store, [Circuit("hardware", "cpu")])  # never leave the class open
        store.close()


def test_an_interrupted_campaign_resumes_with_nothing_lost_or_duplicated(
    dtf_cli: DtfCommand, tmp_path: Path
) -> None:
    # One-test shards: the campaign is still running when the first result lands.
    campaign = _campaign(tmp_path, [{"name": "slow", "select": {"paths": ["tests/test_slow.py"]}}],
                         shard_target_seconds=1)  # fmt: skip
    run_id = "interrupted-1"
    proc = dtf_cli.popen("run", str(campaign), "--run-id", run_id)
    store_path = dtf_cli.home / "dtf.duckdb"
    # Watch the plan file, not the store: a reader polling DuckDB competes with the writer.
    _wait_for(dtf_cli.home / "runs" / run_id / "manifest.json")
    time.sleep(4)  # some of the twelve one-second shards finish, most do not
    os.killpg(proc.pid, signal.SIGKILL)  # the flow process dies mid-campaign
    proc.wait()
    store = ResultStore(f"duckdb:///{store_path}")
    assert len(store.tested_ids(run_id)) < 12
    store.close()
    done = dtf_cli("run", "--resume", run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    store = ResultStore(f"duckdb:///{store_path}")
    rows = store.results_of(run_id)
    assert sorted(r["test_id"] for r in rows) == sorted(
        f"tests/test_slow.py::test_takes_a_second[{n}]" for n in range(12)
    )
    assert store.run(run_id)["verdict"] == "passed"
    store.close()


def _wait_for_worker(dtf_cli: DtfCommand, name: str, timeout: float = 60) -> None:
    from dtf.cluster.fleet import live_workers

    info = cluster_status(dtf_cli.home)
    assert info is not None
    deadline = time.monotonic() + timeout
    while name not in {w.name for w in live_workers(info.address)}:
        assert time.monotonic() < deadline, f"{name} never joined"
        time.sleep(0.5)


def _wait_for(path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)
