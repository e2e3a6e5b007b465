"""DuckDB's one-process lock: readers and a writer in separate processes take turns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dtf.cli import app
from dtf.errors import StoreError
from dtf.store.results import ResultStore

SHARD_TESTS = 200
SHARDS = 40

WRITER = textwrap.dedent(
    """
    import json, sys, time
    from dtf.execution.outcomes import CaseResult, ShardOutcome
    from dtf.store.results import ResultStore, ShardRecord
    url, shards, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = ResultStore(url)
    store.start_run("live", "nightly", source="s", parameters={})
    print("started", flush=True)
    for i in range(shards):
        cases = [CaseResult(f"t{i}.py::test_{j}", "passed", 0.01) for j in range(size)]
        outcome = ShardOutcome(f"s{i}", cases, worker="w", hardware="cpu", wall_seconds=1.0)
        store.write_shard(ShardRecord("live", f"s{i}", "unit", 0, {}, size, 1.0), outcome)
        time.sleep(0.02)
    store.update_run("live", status="completed", verdict="passed")
    print(json.dumps({"writes": shards}), flush=True)
    """
)

READER = textwrap.dedent(
    """
    import json, sys, time
    from dtf.analysis.summary import campaign_summary
    from dtf.store.results import ResultStore
    url, seconds = sys.argv[1], float(sys.argv[2])
    store = ResultStore(url)
    seen, reads, end = [], 0, time.monotonic() + seconds
    while time.monotonic() < end:
        [run] = store.recent_runs(1)
        summary = campaign_summary(store, "live")
        seen.append(run["tests"] or 0)
        reads += 1
        if run["status"] == "completed":
            break
    print(json.dumps({"reads": reads, "seen": seen, "status": run["status"]}), flush=True)
    """
)

HOLDER = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
    """
)


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DTF_STORE_LOCK_TIMEOUT": "30"}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, object]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return dict(json.loads(out.strip().splitlines()[-1]))


def test_a_reader_process_works_while_a_writer_process_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"duckdb:///{tmp_path / 'live.duckdb'}"
    ResultStore(url).close()  # migrated up front, so neither process races to create it
    writer = _spawn(WRITER, url, str(SHARDS), str(SHARD_TESTS))
    assert writer.stdout is not None and writer.stdout.readline().strip() == "started"
    reader = _spawn(READER, url, "60")
    # The CLI, in this process, is a third party reading while the writer writes.
    monkeypatch.setenv("DTF_DATABASE_URL", url)
    cli = CliRunner().invoke(app, ["runs", "--json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)[0]["run_id"] == "live"
    wrote, read = _finish(writer), _finish(reader)
    assert wrote == {"writes": SHARDS}
    seen = read["seen"]
    assert isinstance(seen, list) and int(str(read["reads"])) >= 3
    # Each shard is one transaction: a reader sees whole shards, never part of one, in order.
    assert all(n % SHARD_TESTS == 0 for n in seen), seen
    assert seen == sorted(seen)
    assert len(set(seen)) >= 2, "the reader never saw the writer make progress"
    store = ResultStore(url)
    try:
        assert len(store.tested_ids("live")) == SHARDS * SHARD_TESTS
    finally:
        store.close()


def test_an_operation_waits_for_a_short_lock(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    ResultStore(f"duckdb:///{path}").close()
    holder = _spawn(HOLDER, str(path), "1.5")
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    started = time.monotonic()
    store = ResultStore(f"duckdb:///{path}", lock_timeout=30)
    try:
        assert store.recent_runs() == []
    finally:
        store.close()
    assert time.monotonic() - started >= 0.5  # it did wait for the holder
    holder.communicate(timeout=30)


def test_a_lock_held_past_the_budget_is_a_clear_store_error(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    holder = _spawn(HOLDER, str(path), "60")
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            ResultStore(f"duckdb:///{path}", lock_timeout=0.8)
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.communicate(timeout=30)
    message = str(caught.value)
    assert "stayed locked by another process for 0.8 s" in message
    assert f"PID {holder.pid}" in message
    assert "DTF_STORE_LOCK_TIMEOUT" in message and "PostgreSQL" in message
    assert 0.6 <= elapsed < 10


def test_a_bad_lock_timeout_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DTF_STORE_LOCK_TIMEOUT", "soon")
    with pytest.raises(StoreError, match="DTF_STORE_LOCK_TIMEOUT='soon'"):
        ResultStore("duckdb:///:memory:")


def test_a_session_holds_one_connection_and_lets_others_in_after_it(tmp_path: Path) -> None:
    path = tmp_path / "session.duckdb"
    store = ResultStore(f"duckdb:///{path}")
    try:
        with store.session():
            store.start_run("r1", "nightly", source="s", parameters={})
            with store.transaction() as outer, store.transaction() as inner:
                assert inner is outer  # a transaction inside another joins it
            with pytest.raises(StoreError, match="results store"), store.transaction() as conn:
                conn.exec_driver_sql("SELECT * FROM no_such_table")
            store.update_run("r1", status="completed", verdict="passed")  # still usable
            # Another process is kept out while the session holds the file...
            with pytest.raises(StoreError, match="stayed locked"):
                _read_in_another_process(path, lock_timeout="0.3")
        # ...and gets in once it ends, seeing every write the session committed.
        assert _read_in_another_process(path, lock_timeout="10") == "passed"
    finally:
        store.close()


def _read_in_another_process(path: Path, lock_timeout: str) -> str:
    code = (
        "import sys\nfrom dtf.store.results import ResultStore\n"
        "print(ResultStore('duckdb:///' + sys.argv[1]).run('r1')['verdict'])"
    )
    env = {**os.environ, "DTF_STORE_LOCK_TIMEOUT": lock_timeout}
    argv = [sys.executable, "-c", code, str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise StoreError(done.stderr.strip().splitlines()[-1])
    return done.stdout.strip()
