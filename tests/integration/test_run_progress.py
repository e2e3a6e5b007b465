"""`dtf run`'s live progress on a terminal: real store, real Prefect task runs, rich output."""

from __future__ import annotations

import io
import re
import sys
import time
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from dtf.cli.progress import campaign_progress, eta_text
from dtf.execution.outcomes import CaseResult, ShardOutcome
from dtf.execution.planned import write_manifest
from dtf.planning.manifest import Manifest, SuitePlan
from dtf.planning.shards import Shard
from dtf.server import ServerInfo
from dtf.spec.models import Limits
from dtf.store.results import ResultStore, ShardRecord

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
CUDA = {"cpu": 1.0, "cuda": 1.0}


def plan(run_id: str) -> Manifest:
    """Two cpu shards and two cuda shards of two tests each."""

    def shard(shard_id: str, suite: str, needs: dict[str, float], seconds: float) -> Shard:
        return Shard(shard_id, suite, (f"t/{shard_id}.py::a", f"t/{shard_id}.py::b"),
                     needs=needs, estimated_seconds=seconds)  # fmt: skip

    suites = {s: SuitePlan(name=s, limits=Limits()) for s in ("unit", "gpu")}
    shards = (shard("unit-0", "unit", {"cpu": 1.0}, 10), shard("unit-1", "unit", {"cpu": 1.0}, 10),
              shard("gpu-0", "gpu", CUDA, 20), shard("gpu-1", "gpu", CUDA, 20))  # fmt: skip
    return Manifest(run_id=run_id, campaign="progress", rootdir=".", python=sys.executable,
                    suites=suites, shards=shards, levels=(("unit", "gpu"),))  # fmt: skip


def write(store: ResultStore, run_id: str, record_id: str, attempt: int, hardware: str,
          outcomes: dict[str, str]) -> None:  # fmt: skip
    results = [CaseResult(test, outcome) for test, outcome in outcomes.items()]
    outcome = ShardOutcome(record_id, results, worker="w0", hardware=hardware)
    record = ShardRecord(run_id, record_id, record_id.split("-")[0], attempt, {}, len(results), 1)
    store.write_shard(record, outcome)


def running_flow_run(api: str, task_runs: list[str]) -> str:
    """A flow run on the real server with these task runs in state RUNNING (as the flow has)."""
    running = {"type": "RUNNING", "name": "Running"}
    flow = httpx.post(f"{api}/flows/", json={"name": "progress-test"}, timeout=10).json()
    flow_run = httpx.post(f"{api}/flow_runs/", timeout=10,
                          json={"flow_id": flow["id"], "state": running}).json()  # fmt: skip
    for name in task_runs:
        created = httpx.post(f"{api}/task_runs/", timeout=10, json={
            "flow_run_id": flow_run["id"], "task_key": "shard", "dynamic_key": name,
            "name": name, "state": running})  # fmt: skip
        created.raise_for_status()
    return str(flow_run["id"])


def screen(console: Console) -> str:
    assert isinstance(console.file, io.StringIO)
    return _ESCAPES.sub("", console.file.getvalue())


def wait_for(console: Console, pattern: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, screen(console)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return screen(console)


def test_progress_counts_shards_per_planned_hardware_with_running_failed_and_eta(
    prefect_server: ServerInfo, dtf_home: Path, tmp_path: Path
) -> None:
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    store = ResultStore(url)
    store.start_run("r1", "progress", source=".", parameters={}, planned_tests=8)
    # gpu-0 runs now; unit-1 was split by the recovery ladder and its part 0 is running.
    flow_run_id = running_flow_run(prefect_server.api_url, ["gpu-0", "unit-1.p0", "discover-unit"])
    store.update_run("r1", flow_run_id=flow_run_id)
    manifest = dtf_home / "runs" / "r1" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text('{"run_id": "r1", "shar')  # the flow is half-way through writing it
    console = Console(file=io.StringIO(), force_terminal=True, width=120)

    with campaign_progress(console, "r1", manifest, url, prefect_server.api_url, poll=0.1):
        time.sleep(0.3)
        write_manifest(plan("r1"), manifest)
        write(store, "r1", "unit-0", 0, "cpu", {"t/unit-0.py::a": "passed",
                                                 "t/unit-0.py::b": "passed"})  # fmt: skip
        # unit-1's part 1 finished (attempt 1 after an infrastructure fault): not done yet.
        write(store, "r1", "unit-1.p1", 1, "cpu", {"t/unit-1.py::b": "passed"})
        # gpu-1 ran on its cpu fallback (stored hardware "cpu"); it is still a cuda shard.
        write(store, "r1", "gpu-1", 0, "cpu", {"t/gpu-1.py::a": "passed",
                                               "t/gpu-1.py::b": "failed"})  # fmt: skip
        shown = wait_for(console, r"all .* 2/4 shards 2 running 1 failed ETA \d+m\d\ds")
    store.close()

    assert re.search(r"cpu .* 1/2 shards 1 running 0 failed", shown), shown[-2000:]
    assert re.search(r"cuda .* 1/2 shards 1 running 1 failed", shown), shown[-2000:]
    assert re.search(r"all .* 2/4 shards 2 running 1 failed ETA \d+m\d\ds", shown), shown[-2000:]


def test_progress_is_shown_on_a_terminal_only(dtf_home: Path, tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    manifest = write_manifest(plan("r2"), dtf_home / "runs" / "r2" / "manifest.json")
    console = Console(file=io.StringIO(), force_terminal=False, width=120)
    with campaign_progress(console, "r2", manifest, url, None, poll=0.05):
        time.sleep(0.3)
    assert screen(console) == ""


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "ETA estimating"), (65.4, "ETA 1m05s"), (7300, "ETA 2h01m")]
)
def test_eta_text(seconds: float | None, text: str) -> None:
    assert eta_text(seconds) == text
