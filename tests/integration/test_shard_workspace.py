"""A planned shard on a worker: its clean-room variables, its suite's directory in the worker's
checkout, and the environment it ran in, stored with the run."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dtf.browser.pages import discover_pages
from dtf.browser.spec import BrowserPage, BrowserSuiteSpec
from dtf.cli import app
from dtf.cluster.profiles import local_browsers
from dtf.cluster.publish import WORKER_ENV
from dtf.environments.spec import WorkspaceSpec
from dtf.environments.workspace import (
    pages_in_workspace,
    plan_workspace,
    workspace_parameters,
)
from dtf.errors import DiscoveryError
from dtf.execution.planned import execute_planned_shard
from dtf.planning.manifest import Manifest, SuitePlan
from dtf.planning.shards import Shard
from dtf.sources.spec import GitSource
from dtf.spec.models import Limits
from dtf.store.environments import environments_of
from dtf.store.results import ResultStore, ShardRecord
from tests.conftest import FIXTURES
from tests.fakes.gitproject import (
    DEMO_TESTS,
    DemoRepo,
    commit,
    demo_environment,
    git,
    make_demo_repo,
    make_wheelhouse,
)

LIMITS = Limits(test_timeout=60, shard_timeout=120, idle_timeout=60)
_ENV_TEST = """\
import os


def test_what_the_worker_passes_on():
    assert "DTF_TEST_WORKER_ONLY" not in os.environ
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3" and os.environ["TZ"] == "Etc/GMT+3"
    assert os.environ["MODE"] == "strict" and os.environ["DTF_RUN_ID"] == "r-env"
    assert os.environ["HOME"].endswith("/home")
"""
_ENV_COMMAND = (
    'test -z "${DTF_TEST_WORKER_ONLY+set}" && test "$CUDA_VISIBLE_DEVICES" = 3 '
    '&& test "$MODE" = strict && echo clean'
)


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture
def demo(tmp_path: Path) -> DemoRepo:
    return make_demo_repo(tmp_path / "origin")


def _manifest(
    run_id: str, workspace: WorkspaceSpec, rootdir: str, suite: SuitePlan, tests: tuple[str, ...]
) -> Manifest:
    return Manifest(
        run_id=run_id, campaign="demo", rootdir=rootdir, python=sys.executable,
        suites={suite.name: suite}, shards=(Shard(f"{suite.name}-0", suite.name, tests),),
        levels=((suite.name,),), workspace=workspace,
    )  # fmt: skip


def _on_worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> None:
    """Run what follows as worker `name`, with a cache of its own (no shared directory)."""
    monkeypatch.setenv(WORKER_ENV, json.dumps({"name": name, "resources": {"cpu": 1}}))
    monkeypatch.setenv("DTF_CACHE", str(tmp_path / name / "cache"))


def test_only_the_allowed_worker_variables_reach_a_shard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_env.py").write_text(_ENV_TEST)
    monkeypatch.setenv("DTF_TEST_WORKER_ONLY", "leaks unless the runner filters it")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    monkeypatch.setenv("TZ", "Etc/GMT+3")
    workspace = plan_workspace(project, None)
    env = {"MODE": "strict"}
    pytest_suite = SuitePlan(name="unit", limits=LIMITS, env=env)
    test = "test_env.py::test_what_the_worker_passes_on"
    manifest = _manifest("r-env", workspace, str(project), pytest_suite, (test,))
    [result] = execute_planned_shard(manifest, "unit-0").results
    assert result.outcome == "passed", result.message
    command = SuitePlan(name="cmd", limits=LIMITS, env=env, command=_ENV_COMMAND,
                        workdir=str(project))  # fmt: skip
    manifest = _manifest("r-env", workspace, str(project), command, ("cmd::command",))
    [ran] = execute_planned_shard(manifest, "cmd-0").results
    assert ran.outcome == "passed" and "clean" in ran.output, ran.message


@pytest.mark.parametrize(("ref", "outcome"), [("v1", "passed"), ("main", "failed")])
def test_a_command_suite_of_a_git_source_runs_in_the_workers_checkout(
    demo: DemoRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ref: str, outcome: str
) -> None:
    workspace = plan_workspace(GitSource(git=demo.url, ref=ref), None,
                               cache_root=tmp_path / "planner")  # fmt: skip
    # The planner's directory (where the campaign file was) holds none of the repository.
    planner_dir = tmp_path / "planner-campaign"
    planner_dir.mkdir()
    check = f"grep -q 'dtfdemo==1.0' requirements.txt && test $(git rev-parse HEAD) = {demo.v1}"
    suite = SuitePlan(name="cmd", limits=LIMITS, command=check, workdir=str(planner_dir))
    _on_worker(monkeypatch, tmp_path, "worker-a")
    [result] = execute_planned_shard(_manifest("r-cmd", workspace, ".", suite,
                                               ("cmd::command",)), "cmd-0").results  # fmt: skip
    assert result.outcome == outcome, result.message


def test_a_browser_suite_of_a_git_source_lists_its_pages_in_the_workers_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "origin"
    repo.mkdir()
    git(repo, "init", "--quiet", "-b", "main")
    commit(repo, {"web/a.html": "<p>a</p>", "web/sub/b.html": "<p>b</p>"}, "pages")
    workspace = plan_workspace(GitSource(git=repo.as_uri(), ref="main"), None,
                               cache_root=tmp_path / "planner")  # fmt: skip
    planner_dir = tmp_path / "planner-campaign"  # has no web/ directory
    planner_dir.mkdir()
    browser = BrowserSuiteSpec(root="web", pages=(BrowserPage(path="**/*.html"),))
    with pytest.raises(DiscoveryError, match="is not a directory"):
        discover_pages(browser, planner_dir)  # what listing on the flow's machine would do
    _on_worker(monkeypatch, tmp_path, "worker-a")
    listed = pages_in_workspace(workspace, browser, cache_root=tmp_path / "worker-cache")
    assert sorted(listed) == ["a.html", "sub/b.html"]


@pytest.mark.skipif("chromium" not in local_browsers(), reason="needs Debian's chromium")
def test_a_browser_suite_of_a_git_source_serves_pages_from_the_workers_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "origin"
    repo.mkdir()
    git(repo, "init", "--quiet", "-b", "main")
    page = (FIXTURES / "browser_pages" / "pass.html").read_text()
    sha = commit(repo, {"web/pass.html": page}, "pages")
    workspace = plan_workspace(GitSource(git=repo.as_uri(), ref="main"), None,
                               cache_root=tmp_path / "planner")  # fmt: skip
    planner_dir = tmp_path / "planner-campaign"  # has no web/ directory
    planner_dir.mkdir()
    browser = BrowserSuiteSpec(root="web", pages=(BrowserPage(path="pass.html"),), pool_size=1)
    suite = SuitePlan(name="web", limits=LIMITS, browser=browser, workdir=str(planner_dir))
    _on_worker(monkeypatch, tmp_path, "worker-a")
    outcome = execute_planned_shard(_manifest("r-web", workspace, ".", suite, ("pass.html",)),
                                    "web-0")  # fmt: skip
    assert workspace.sha == sha
    assert {r.nodeid: r.outcome for r in outcome.results} == {
        "pass.html": "passed", "pass.html::adds": "passed", "pass.html::concatenates": "passed"
    }  # fmt: skip


def test_the_environment_a_shard_ran_in_is_stored_once_per_worker(
    demo: DemoRepo, wheels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    store_url: str,
) -> None:  # fmt: skip
    workspace = plan_workspace(GitSource(git=demo.url, ref="main"), demo_environment(wheels),
                               cache_root=tmp_path / "planner")  # fmt: skip
    suite = SuitePlan(name="unit", limits=LIMITS)
    manifest = _manifest("r-envs", workspace, ".", suite, DEMO_TESTS)
    store = ResultStore(store_url)
    store.start_run("r-envs", "demo", source=demo.url, parameters=workspace_parameters(workspace),
                    ref=workspace.sha)  # fmt: skip
    try:
        for worker, attempt in (("worker-a", 0), ("worker-a", 1), ("worker-b", 2)):
            _on_worker(monkeypatch, tmp_path, worker)
            outcome = execute_planned_shard(manifest, "unit-0")
            assert outcome.worker == worker and outcome.environment["packages"]
            record = ShardRecord("r-envs", "unit-0", "unit", attempt, {}, len(DEMO_TESTS), 0.0)
            store.write_shard(record, outcome)
            store.write_shard(record, outcome)  # a retried write adds nothing
        stored = environments_of(store, "r-envs")
    finally:
        store.close()
    assert [e["worker"] for e in stored] == ["worker-a", "worker-b"]
    for env in stored:
        assert (env["sha"], env["lock_hash"]) == (demo.main, workspace.lock_hash)
        assert "dtfdemo==2.0" in env["packages"] and any(
            p.startswith("pytest==") for p in env["packages"]
        )
        assert env["python"].startswith(f"{sys.version_info[0]}.{sys.version_info[1]}.")
        assert env["platform"].startswith("linux-")
    monkeypatch.setenv("DTF_DATABASE_URL", store_url)
    shown = CliRunner().invoke(app, ["show", "r-envs"])
    assert shown.exit_code == 0, shown.output
    assert "Environments (2):" in shown.output and "dtfdemo==2.0" in shown.output
    assert f"worker-b: commit {demo.main[:12]}, lock {workspace.lock_hash[:12]}" in shown.output
    as_json = json.loads(CliRunner().invoke(app, ["show", "r-envs", "--json"]).stdout)
    assert as_json["environments"][0]["packages"] == stored[0]["packages"]


def test_no_environment_is_recorded_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_ok.py").write_text("def test_ok():\n    pass\n")
    suite = SuitePlan(name="unit", limits=LIMITS)
    manifest = _manifest("r-none", plan_workspace(project, None), str(project), suite,
                         ("test_ok.py::test_ok",))  # fmt: skip
    outcome = execute_planned_shard(manifest, "unit-0")
    assert [r.outcome for r in outcome.results] == ["passed"] and outcome.environment == {}


def test_a_cpu_shard_comes_back_at_its_session_end_a_device_shard_after_its_exit(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    # A plugin whose exit work takes 10 s (a device's teardown, say).
    (project / "conftest.py").write_text("import atexit, time\natexit.register(time.sleep, 10)\n")
    (project / "test_ok.py").write_text("def test_ok():\n    pass\n")
    suite = SuitePlan(name="unit", limits=LIMITS)
    manifest = _manifest("r-exit", plan_workspace(project, None), str(project), suite,
                         ("test_ok.py::test_ok",))  # fmt: skip
    for needs, waits in (({"cpu": 1.0}, False), ({"cuda": 1.0}, True)):
        begin = time.monotonic()
        outcome = execute_planned_shard(manifest, "unit-0", needs=needs)
        assert [r.outcome for r in outcome.results] == ["passed"]
        assert (time.monotonic() - begin >= 10) is waits, needs
