"""Deployments end to end: `dtf deploy`, a real process worker, `--watch` verdicts, a cron run."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from dtf.cluster.local import ensure_cluster, stop_cluster
from dtf.cluster.profiles import default_profiles, local_browsers
from dtf.execution.outcomes import CaseResult
from dtf.fingerprint import code_fingerprint
from dtf.publishing.outbox import NewDelivery, Outbox
from dtf.quarantine import QuarantineEntry
from dtf.server import (
    SERVER_DATABASE_ENV,
    ServerInfo,
    describe_server,
    ensure_server,
    server_env,
    server_status,
    stop_server,
)
from dtf.store.quarantines import add_quarantine, quarantines, release_quarantine
from dtf.store.results import ResultStore
from dtf.store.synthetic import record_run
from tests.e2e.conftest import task_runs_named

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CAMPAIGN = "examples/quickstart/campaign.yaml"
PASSING = "tokenize and not punctuation"  # 8 tests, all green
FAILING = "tokenize"  # the same 8 and test_tokenize_keeps_punctuation_separate, which fails
ACTION = REPO / "deployments/github/actions/dtf-campaign/action.yml"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
CRON = "cron-check"


@dataclass
class Deployed:
    """The deployments on the session's server, a process worker serving them, a dtf home."""

    home: Path
    env: dict[str, str]
    api: str
    deploy_output: str
    cron_fires_at: float

    def run(self, *argv: str, cwd: Path = REPO, timeout: float = 300) -> Triggered:
        started = time.time()
        done = subprocess.run(
            argv, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        found = re.search(r"UUID: ([0-9a-f-]{36})", done.stdout)
        return Triggered(done, found.group(1) if found else "", started, time.time())

    def api_get(self, path: str) -> Any:
        response = httpx.get(f"{self.api}{path}", timeout=10)
        response.raise_for_status()
        return response.json()

    def api_post(self, path: str, body: Mapping[str, Any]) -> Any:
        response = httpx.post(f"{self.api}{path}", json=dict(body), timeout=10)
        response.raise_for_status()
        return response.json()


@dataclass
class Triggered:
    """A command that created a flow run, and when it started and ended."""

    done: subprocess.CompletedProcess[str]
    flow_run_id: str
    started: float
    ended: float

    @property
    def output(self) -> str:
        return self.done.stdout + self.done.stderr


@pytest.fixture(scope="module")
def deployed(
    prefect_server: ServerInfo,
    server_environment: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployed]:
    """`dtf deploy`, a worker, a cron deployment due in a minute; the local cluster warmed."""
    home = tmp_path_factory.mktemp("worker-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DTF_"))}
    # The flow's source cache in the test's home, not in the user's ~/.cache/dtf.
    env.update({**server_environment, "DTF_HOME": str(home), "DTF_CACHE": str(home / "cache"),
                "COLUMNS": "200"})  # fmt: skip
    deployed = Deployed(home, env, prefect_server.api_url, "", 0.0)
    worker: subprocess.Popen[bytes] | None = None
    # The cluster the deployed flow starts for itself (same home, same environment), started
    # meanwhile so that only the first run waits for it; the flow finds it and reuses it.
    with ThreadPoolExecutor(1) as pool:
        warming = pool.submit(_warm_cluster, home, server_environment)
        try:
            deployed.deploy_output = _dtf_deploy(env)
            worker = _start_worker(env, home / "worker.log")
            deployed.cron_fires_at = _deploy_cron(deployed, tmp_path_factory.mktemp("cron"))
            warming.result(timeout=180)
            yield deployed
        finally:
            warming.result(timeout=180)
            _cancel_unfinished_runs(deployed)
            if worker is not None:
                _stop(worker)
            _delete_deployment(deployed, f"campaign/{CRON}")
            stop_cluster(home)


def _dtf_deploy(env: Mapping[str, str]) -> str:
    done = subprocess.run(
        [str(BIN / "dtf"), "deploy"],
        cwd=REPO,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _delete_deployment(deployed: Deployed, name: str) -> None:
    found = httpx.get(f"{deployed.api}/deployments/name/{name}", timeout=10)
    if found.status_code == 200:
        httpx.delete(f"{deployed.api}/deployments/{found.json()['id']}", timeout=10)


def _warm_cluster(home: Path, server_environment: Mapping[str, str]) -> None:
    env = {
        "PREFECT_API_URL": server_environment["PREFECT_API_URL"],
        **server_env(home),
        "DTF_CODE_FINGERPRINT": code_fingerprint(),
    }
    ensure_cluster(home, default_profiles(2, local_browsers()), env)


def _deploy_cron(deployed: Deployed, workdir: Path) -> float:
    """A deployment whose cron fires once, at the first minute boundary 40 s or more away.

    Once, not every minute: each firing would queue another campaign behind the tests'.
    """
    fires_at = (time.time() // 60 + 1) * 60
    fires_at += 60 if fires_at - time.time() < 40 else 0
    cron = time.strftime("%M %H * * *", time.gmtime(fires_at))
    argv = [
        str(BIN / "prefect"),
        "--no-prompt",
        "deploy",
        "flows.deployed:campaign_deployment",
        "--name",
        CRON,
        "--pool",
        "dtf",
        "--cron",
        cron,
        "--timezone",
        "UTC",
        "--param",
        f"target={REPO / CAMPAIGN}",
        "--param",
        f"keyword={PASSING}",
        "--param",
        "trigger=schedule",
    ]
    # From an empty directory: no prefect.yaml is read there, and none is written to the repo.
    created = deployed.run(*argv, cwd=workdir)
    assert created.done.returncode == 0, created.output
    return fires_at


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # One run at a time: the worker's campaigns share one DuckDB store, one writer at a time.
    argv = [str(BIN / "prefect"), "worker", "start", "--pool", "dtf", "--limit", "1"]
    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            cwd=REPO,
            env={**env, "PREFECT_WORKER_QUERY_SECONDS": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(worker: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(worker.pid, sig)
            worker.wait(wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def _cancel_unfinished_runs(deployed: Deployed) -> None:
    """Cancel what still runs while the worker lives: flow runs outlive their worker."""
    unfinished = {
        "flow_runs": {"state": {"type": {"any_": ["RUNNING", "PENDING"]}}},
        "work_pools": {"name": {"any_": ["dtf"]}},
    }
    for run in deployed.api_post("/flow_runs/filter", unfinished):
        deployed.api_post(
            f"/flow_runs/{run['id']}/set_state", {"state": {"type": "CANCELLING"}, "force": True}
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and deployed.api_post("/flow_runs/filter", unfinished):
        time.sleep(1)


def _prefect_run(deployed: Deployed, *params: str, timeout: float = 300) -> Triggered:
    argv = [
        str(BIN / "prefect"),
        "deployment",
        "run",
        "campaign/on-demand",
        "--param",
        f"target={CAMPAIGN}",
        "--watch",
        "--watch-timeout",
        str(int(timeout)),
    ]
    argv += [arg for param in params for arg in ("--param", param)]
    return deployed.run(*argv, timeout=timeout + 30)


def _child(deployed: Deployed, parent_id: str) -> dict[str, Any]:
    children = deployed.api_post(
        "/flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": [parent_id]}}}
    )
    assert len(children) == 1, children
    child: dict[str, Any] = children[0]
    return child


def _task_runs(deployed: Deployed, flow_run_id: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = deployed.api_post(
        "/task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}}
    )
    return runs


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _report_latency(deployed: Deployed, triggered: Triggered, label: str) -> dict[str, float]:
    """Print where the time goes, from `prefect deployment run` to the verdict."""
    parent = deployed.api_get(f"/flow_runs/{triggered.flow_run_id}")
    child = _child(deployed, triggered.flow_run_id)
    tasks = _task_runs(deployed, child["id"])
    shards = [t for t in tasks if t["task_key"].startswith("run_shard_task")]
    first = min(_seconds(s["start_time"]) for s in shards)
    last = max(_seconds(s["end_time"]) for s in shards)
    # A collection an earlier run stored on the worker the lookup reaches is reused without a
    # discovery task run; which worker that is, Dask decides.
    others = [_seconds(t["start_time"]) for t in tasks if t not in shards]
    discovered = min(others, default=_seconds(child["start_time"]))
    numbers = {
        "trigger_to_first_shard": first - triggered.started,
        "last_shard_to_campaign_verdict": _seconds(child["end_time"]) - last,
        "last_shard_to_deployment_run_final": _seconds(parent["end_time"]) - last,
        "last_shard_to_watch_exit": triggered.ended - last,
    }
    steps = {
        "worker pick-up and flow process start": _seconds(parent["start_time"]) - triggered.started,
        "checkout, cluster, subflow start": _seconds(child["start_time"])
        - _seconds(parent["start_time"]),
        "to first discovery task (0 if reused)": discovered - _seconds(child["start_time"]),
        "discovery and planning": first - discovered,
    }
    print(
        f"\nlatency ({label}, {len(shards)} shards): "
        + ", ".join(f"{k} {v:.1f}s" for k, v in numbers.items())
        + "\n  trigger to first shard: "
        + ", ".join(f"{k} {v:.1f}s" for k, v in steps.items())
    )
    return numbers


def test_dtf_deploy_registers_the_nightly_and_on_demand_deployments(deployed: Deployed) -> None:
    assert "created work pool 'dtf' (process)" in deployed.deploy_output
    assert "registered deployment campaign/nightly" in deployed.deploy_output
    assert "registered deployment campaign/on-demand" in deployed.deploy_output
    assert deployed.api_get("/work_pools/dtf")["type"] == "process"
    nightly = deployed.api_get("/deployments/name/campaign/nightly")
    [schedule] = nightly["schedules"]
    assert schedule["active"] and schedule["schedule"]["cron"] == "0 2 * * *"
    assert schedule["schedule"]["timezone"] == "Europe/Paris"
    assert nightly["parameters"]["trigger"] == "nightly" and nightly["work_pool_name"] == "dtf"
    on_demand = deployed.api_get("/deployments/name/campaign/on-demand")
    assert on_demand["schedules"] == [] and on_demand["parameters"]["target"] == CAMPAIGN
    [pull] = on_demand["pull_steps"]
    assert pull["prefect.deployments.steps.set_working_directory"]["directory"] == str(REPO)
    assert {"ref", "matrix", "pr"} <= set(on_demand["parameter_openapi_schema"]["properties"])
    # Again, now that the pool exists: only the named deployment, and no error.
    again = subprocess.run(
        [str(BIN / "dtf"), "deploy", "--name", "on-demand"],
        cwd=REPO,
        env=deployed.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "created work pool" not in again.stdout
    assert "registered deployment campaign/on-demand" in again.stdout
    assert "campaign/nightly" not in again.stdout


def test_dtf_deploy_registers_the_maintenance_deployments_on_the_same_pool(
    deployed: Deployed,
) -> None:
    for name in ("verify-quarantine/weekly", "publish-retry/hourly"):
        assert f"registered deployment {name}" in deployed.deploy_output
    weekly = deployed.api_get("/deployments/name/verify-quarantine/weekly")
    hourly = deployed.api_get("/deployments/name/publish-retry/hourly")
    assert weekly["entrypoint"] == "flows.verify_quarantine:verify_quarantine_deployment"
    assert hourly["entrypoint"] == "flows.publish_retry:publish_retry"
    crons = [(d["schedules"][0]["schedule"]["cron"], d["schedules"][0]["active"])
             for d in (weekly, hourly)]  # fmt: skip
    assert crons == [("0 5 * * 1", True), ("17 * * * *", True)]
    assert {d["work_pool_name"] for d in (weekly, hourly)} == {"dtf"}
    assert weekly["parameters"] == {"target": CAMPAIGN, "runs": 5, "workers": 2}
    assert {"runs", "scheduler_address"} <= set(weekly["parameter_openapi_schema"]["properties"])
    listed = deployed.api_post("/deployments/filter", {})
    assert {"weekly", "hourly", "nightly", "on-demand"} <= {d["name"] for d in listed}


def test_publish_retry_runs_from_its_deployment_and_delivers_what_was_pending(
    deployed: Deployed, tmp_path: Path
) -> None:
    report = tmp_path / "junit.xml"
    store = ResultStore(f"duckdb:///{deployed.home / 'dtf.duckdb'}")
    try:
        record_run(store, "outbox-1", [CaseResult("t.py::test_a", "passed", 0.1)],
                   campaign="outbox", started_at=time.time())  # fmt: skip
        # What a campaign's publish step leaves behind when the target was down.
        body = {"path": str(report), "campaign": "outbox"}
        payload = {"name": "junit", "kind": "junit", "body": body,
                   "options": {"path": str(report)}, "retry": {}}  # fmt: skip
        Outbox(store).record([NewDelivery("outbox-1/junit", "outbox-1", "junit",
                                          f"file {report}", payload)])  # fmt: skip
    finally:
        store.close()
    argv = [str(BIN / "prefect"), "deployment", "run", "publish-retry/hourly", "--watch",
            "--watch-timeout", "180"]  # fmt: skip
    triggered = deployed.run(*argv, timeout=210)
    assert triggered.done.returncode == 0, triggered.output
    run = deployed.api_get(f"/flow_runs/{triggered.flow_run_id}")
    assert run["state_type"] == "COMPLETED"
    assert "<testcase" in report.read_text()
    store = ResultStore(f"duckdb:///{deployed.home / 'dtf.duckdb'}")
    try:
        [row] = Outbox(store).rows("outbox-1")
    finally:
        store.close()
    assert (row.status, row.remote_ref) == ("sent", f"file:{report}")


def test_verify_quarantine_runs_from_its_deployment_and_releases_the_fixed_test(
    deployed: Deployed,
) -> None:
    fixed = "tests/test_tokenizer.py::test_tokenize_lowercases"
    broken = "tests/test_tokenizer.py::test_tokenize_keeps_punctuation_separate"
    store = ResultStore(f"duckdb:///{deployed.home / 'dtf.duckdb'}")
    try:
        for pattern in (fixed, broken):
            add_quarantine(store, QuarantineEntry("quickstart", pattern, "flaky", "JIRA-9",
                                                  time.time(), None))  # fmt: skip
    finally:
        store.close()
    argv = [str(BIN / "prefect"), "deployment", "run", "verify-quarantine/weekly",
            "--param", "runs=2", "--watch", "--watch-timeout", "240"]  # fmt: skip
    triggered = deployed.run(*argv, timeout=270)
    store = ResultStore(f"duckdb:///{deployed.home / 'dtf.duckdb'}")
    try:
        kept = [e.pattern for e in quarantines(store, "quickstart")]
        runs = store.recent_runs(1, campaign="quickstart.verify-quarantine")
        rows = store.results_of(runs[0]["run_id"]) if runs else []
        for pattern in kept:  # the other tests here need the failing test to fail them
            release_quarantine(store, "quickstart", pattern)
    finally:
        store.close()
    assert triggered.done.returncode == 0, triggered.output
    child = _child(deployed, triggered.flow_run_id)
    assert child["state_type"] == "COMPLETED" and child["name"].endswith("x2")
    assert kept == [broken]
    assert sorted((r["test_id"], r["outcome"]) for r in rows) == sorted(
        [(fixed, "passed")] * 2 + [(broken, "failed")] * 2
    )


def test_a_failing_campaign_ends_the_watch_non_zero(deployed: Deployed) -> None:
    triggered = _prefect_run(deployed, f"keyword={FAILING}")
    assert triggered.done.returncode == 1, triggered.output
    assert "Flow run finished in state 'Failed'" in triggered.output
    parent = deployed.api_get(f"/flow_runs/{triggered.flow_run_id}")
    assert parent["state_type"] == "FAILED"
    assert re.match(r"campaign quickstart-\S+ failed: 1 test failed", parent["state"]["message"])
    assert parent["name"] == "quickstart -k 'tokenize' (on-demand)"
    child = _child(deployed, triggered.flow_run_id)
    assert child["state_type"] == "FAILED" and child["name"] == parent["name"]
    assert {"campaign:quickstart", "trigger:on-demand", "dtf"} <= set(child["tags"])
    _report_latency(deployed, triggered, "first run on a fresh local cluster")


def test_a_passing_campaign_ends_the_watch_zero_with_a_task_run_per_shard(
    deployed: Deployed,
) -> None:
    triggered = _prefect_run(deployed, f"keyword={PASSING}")
    assert triggered.done.returncode == 0, triggered.output
    assert "Flow run finished successfully in 'Completed'" in triggered.output
    child = _child(deployed, triggered.flow_run_id)
    assert child["state_type"] == "COMPLETED"
    run_id = child["parameters"]["run_id"]
    store = ResultStore(f"duckdb:///{deployed.home / 'dtf.duckdb'}")
    try:
        run = store.run(run_id)
        assert run is not None and run["verdict"] == "passed" and run["trigger"] == "on-demand"
        shards = {r["shard_id"] for r in store.results_of(run_id)}
    finally:
        store.close()
    recorded = task_runs_named(deployed.api, child["id"], shards)
    assert sorted(s["name"] for s in recorded) == sorted(shards)
    numbers = _report_latency(deployed, triggered, "warm cluster")
    assert numbers["trigger_to_first_shard"] > 0 and numbers["last_shard_to_watch_exit"] > 0


def test_matrix_values_reach_the_campaign_and_a_bad_one_fails_with_one_message(
    deployed: Deployed,
) -> None:
    # The quickstart declares no matrix: the campaign flow refuses before anything runs.
    triggered = _prefect_run(deployed, 'matrix={"python": "3.12"}')
    assert triggered.done.returncode == 1, triggered.output
    parent = deployed.api_get(f"/flow_runs/{triggered.flow_run_id}")
    assert parent["state_type"] == "FAILED"
    assert parent["name"] == "quickstart[python=3.12] (on-demand)"
    message = parent["state"]["message"]
    assert message.startswith(str(REPO / CAMPAIGN)), message
    assert "cannot set python: the campaign declares no 'matrix'" in message
    assert "Traceback" not in message


@pytest.mark.skipif(shutil.which("jq") is None, reason="the action's scripts need jq")
def test_the_github_action_tests_a_commit_and_fails_the_job_with_the_campaign(
    deployed: Deployed, tmp_path: Path
) -> None:
    """The composite action's own scripts, run as GitHub runs them, against the real server."""
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    inputs = {
        "target": CAMPAIGN,
        "ref": sha,
        "pr": "42",
        "keyword": FAILING,
        "trigger": "github-pr",
    }
    outputs, codes = _run_action(deployed, inputs, tmp_path)
    assert codes == {"Start the campaign": 0, "Wait for the verdict": 1}
    assert re.fullmatch(r"[0-9a-f-]{36}", outputs["flow-run-id"])
    assert outputs["flow-run-url"].endswith(f"/runs/flow-run/{outputs['flow-run-id']}")
    summary = (tmp_path / "summary.md").read_text()
    assert "### dtf campaign failed" in summary and outputs["flow-run-url"] in summary
    parent = deployed.api_get(f"/flow_runs/{outputs['flow-run-id']}")
    assert {"pr:42", "trigger:github-pr"} <= set(parent["tags"])
    assert parent["name"] == f"quickstart -k 'tokenize' @{sha[:12]} PR#42 (github-pr)"
    child = _child(deployed, outputs["flow-run-id"])
    assert {"pr:42", f"ref:{sha[:12]}", "campaign:quickstart"} <= set(child["tags"])
    # The campaign ran from a checkout of the commit in the source cache the workers use
    # (dtf.sources), not from the worker's working tree.
    tree = deployed.home / "cache" / "sources" / "entries" / f"tree-{sha}"
    assert child["parameters"]["target"] == str(tree / CAMPAIGN)


def _run_action(
    deployed: Deployed, given: Mapping[str, str], workdir: Path
) -> tuple[dict[str, str], dict[str, int]]:
    action = yaml.safe_load(ACTION.read_text())
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    inputs.update(given)
    files = {"GITHUB_OUTPUT": workdir / "output.txt", "GITHUB_STEP_SUMMARY": workdir / "summary.md"}
    for path in files.values():
        path.touch()  # GitHub creates both files before a step runs
    env = {
        **deployed.env,
        **{k: str(v) for k, v in files.items()},
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    outputs: dict[str, str] = {}
    codes: dict[str, int] = {}
    for step in action["runs"]["steps"]:
        if "run" not in step or "if" in step or "pip install" in step["run"]:
            continue  # Python and Prefect are here; the cancel step runs only on cancellation
        step_env = {k: _expand(str(v), inputs, outputs) for k, v in step.get("env", {}).items()}
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=workdir,
            env={**env, **step_env},
            capture_output=True,
            text=True,
            timeout=330,
        )
        codes[step["name"]] = done.returncode
        print(f"--- {step['name']}: exit {done.returncode}\n{done.stdout}{done.stderr}")
        outputs = dict(line.split("=", 1) for line in files["GITHUB_OUTPUT"].read_text().split())
    return outputs, codes


def _expand(value: str, inputs: Mapping[str, str], outputs: Mapping[str, str]) -> str:
    def lookup(match: re.Match[str]) -> str:
        scope, name = match.groups()
        return inputs[name] if scope == "inputs" else outputs.get(name, "")

    expanded = re.sub(r"\$\{\{\s*(inputs|steps\.run\.outputs)\.([\w-]+)\s*\}\}", lookup, value)
    assert "${{" not in expanded, f"an expression this test cannot evaluate: {value}"
    return expanded


def test_a_cron_schedule_fires_a_campaign_within_the_minute(deployed: Deployed) -> None:
    deployment = deployed.api_get(f"/deployments/name/campaign/{CRON}")
    wait = deployed.cron_fires_at + 90 - time.time()
    run = _wait_for_scheduled_start(deployed, deployment["id"], timeout=max(wait, 5))
    assert run["auto_scheduled"] is True
    assert _seconds(run["expected_start_time"]) == deployed.cron_fires_at
    finished = _wait_for_final(deployed, run["id"], timeout=240)
    assert finished["state_type"] == "COMPLETED", finished["state"]
    assert finished["name"] == "quickstart -k 'tokenize and not punctuation' (schedule)"
    print(
        f"\ncron run: due {time.strftime('%H:%M:%S', time.gmtime(deployed.cron_fires_at))}, "
        f"started {_seconds(run['start_time']) - deployed.cron_fires_at:+.1f}s after"
    )


def _wait_for_scheduled_start(deployed: Deployed, deployment_id: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    query = {
        "flow_runs": {"deployment_id": {"any_": [deployment_id]}, "start_time": {"is_null_": False}}
    }
    while time.monotonic() < deadline:
        started = deployed.api_post("/flow_runs/filter", query)
        if started:
            return started[0]
        time.sleep(2)
    scheduled = deployed.api_post(
        "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}}
    )
    pytest.fail(
        f"no run of the cron deployment started within {timeout:g}s; runs: "
        + ", ".join(f"{r['state_name']}@{r['expected_start_time']}" for r in scheduled[:3])
    )


def _wait_for_final(deployed: Deployed, flow_run_id: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = deployed.api_get(f"/flow_runs/{flow_run_id}")
        if run["state_type"] in FINAL:
            return run
        time.sleep(2)
    pytest.fail(f"flow run {flow_run_id} did not finish within {timeout:g}s")


@pytest.mark.postgres
def test_the_managed_server_keeps_its_state_in_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = os.environ.get("DTF_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("DTF_TEST_POSTGRES_URL is not set (.ci/run sets it to the local PostgreSQL)")
    with _fresh_database(base, "dtf_prefect_server") as url:
        # A psycopg URL, as for the results store: dtf gives Prefect's server asyncpg. Some
        # password (trust authentication ignores it), to see that status never prints it.
        given = make_url(url)
        given = given if given.password else given.set(password="not-shown")
        monkeypatch.setenv(SERVER_DATABASE_ENV, given.render_as_string(hide_password=False))
        home = tmp_path / "pg-home"
        try:
            info = ensure_server(home)
            assert server_status(home) == info
            assert info.database.startswith("postgresql+asyncpg://")
            assert ":***@" in info.database and str(given.password) not in info.database
            assert any(
                line.startswith("database: postgresql+asyncpg") for line in describe_server(info)
            )
            assert httpx.post(f"{info.api_url}/flow_runs/filter", json={}, timeout=10).json() == []
            engine = create_engine(url)
            with engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
            engine.dispose()
            assert {"flow_run", "task_run", "deployment"} <= tables
        finally:
            stop_server(home)


@contextmanager
def _fresh_database(base: str, prefix: str) -> Iterator[str]:
    name = f"{prefix}_{secrets.token_hex(3)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
