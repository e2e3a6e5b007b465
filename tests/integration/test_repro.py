"""`dtf repro`: the printed commands, run as printed or with --run, reproduce a stored outcome."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from dtf.cli import app
from dtf.config import database_url
from dtf.environments.workspace import plan_workspace, prepare_workspace, workspace_parameters
from dtf.errors import StoreError
from dtf.execution.planned import write_manifest
from dtf.execution.runner import ShardRequest, run_shard
from dtf.planning.manifest import Manifest, SuitePlan
from dtf.planning.shards import Shard
from dtf.sources.spec import GitSource
from dtf.spec.models import Limits
from dtf.store.results import ResultStore, ShardRecord
from tests.fakes.gitproject import (
    DEMO_TESTS,
    TEST_BELOW_TWO,
    TEST_VALUE,
    DemoRepo,
    demo_environment,
    make_demo_repo,
    make_wheelhouse,
)

VENV_BIN = str(Path(sys.executable).parent)  # where this venv's uv is


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture
def demo(tmp_path: Path) -> DemoRepo:
    return make_demo_repo(tmp_path / "origin")


def _record_run(
    run_id: str, dtf_home: Path, tests: tuple[str, ...], rootdir: str, **start: object
) -> None:
    """A run's manifest and run row, as the campaign flow writes them."""
    manifest = Manifest(
        run_id=run_id, campaign="demo", rootdir=rootdir, python=sys.executable,
        suites={"unit": SuitePlan(name="unit", limits=Limits(), env={"DEMO_MODE": "strict"})},
        shards=(Shard("unit-0", "unit", tests, needs={"cpu": 1.0}),), levels=(("unit",),),
    )  # fmt: skip
    write_manifest(manifest, dtf_home / "runs" / run_id / "manifest.json")
    store = ResultStore(database_url())
    try:
        store.start_run(run_id, "demo", trigger="test", **start)
    finally:
        store.close()


def _store_outcome(
    run_id: str, request: ShardRequest, environment: dict[str, object] | None = None
) -> None:
    outcome = run_shard(request)
    outcome.worker, outcome.hardware = "worker-a", "cpu"
    outcome.environment = environment or {}  # what the worker's environment held
    store = ResultStore(database_url())
    try:
        record = ShardRecord(run_id, "unit-0", "unit", 0, {"cpu": 1.0}, len(request.nodeids), 0.0)
        store.write_shard(record, outcome)
    finally:
        store.close()


@pytest.fixture
def git_run(dtf_home: Path, demo: DemoRepo, wheels: Path, tmp_path: Path) -> str:
    """Run r1: the demo at main (one failing test) in its environment, on 'worker-a'."""
    workspace = plan_workspace(GitSource(git=demo.url, ref="main"), demo_environment(wheels),
                               cache_root=tmp_path / "planner")  # fmt: skip
    _record_run("r1", dtf_home, DEMO_TESTS, ".", source=demo.url, ref=workspace.sha,
                parameters=workspace_parameters(workspace))  # fmt: skip
    scratch = tmp_path / "scratch"
    with prepare_workspace(workspace, ".", "", cache_root=tmp_path / "worker-a") as ws:
        _store_outcome("r1", ShardRequest("unit-0", DEMO_TESTS, ws.rootdir, python=ws.python,
                                          env=ws.shard_env(scratch)), ws.record())  # fmt: skip
    return "r1"


def _repro(*args: str) -> Result:
    return CliRunner().invoke(app, ["repro", *args])


def test_the_commands_name_commit_environment_test_and_hardware(
    git_run: str, demo: DemoRepo
) -> None:
    result = _repro(git_run, "test_below_two")
    assert result.exit_code == 0, result.output
    script = result.stdout
    assert f"# Reproduce {TEST_BELOW_TWO} of run r1:" in script
    assert "it was 'failed' on worker worker-a (hardware cpu); it needs hardware: cpu=1" in script
    assert f'git clone --quiet {demo.url} "$REPRO"/src' in script
    assert f"checkout --quiet --detach {demo.main}" in script
    assert "uv pip install --quiet" in script and "-r requirements.txt" in script
    assert f"-m pytest -p no:cacheprovider {TEST_BELOW_TWO}" in script
    assert "DEMO_MODE=strict" in script and 'HOME="$REPRO"/home' in script
    # The versions worker-a's environment held are pinned, and listed.
    install = next(line for line in script.splitlines() if "uv pip install" in line)
    assert "dtfdemo==2.0" in install.split() and "pytest==" in install
    assert "# its environment there: lock " in script and "#   dtfdemo==2.0" in script


@pytest.mark.parametrize(("test", "code"), [(TEST_BELOW_TWO, 1), (TEST_VALUE, 0)])
def test_the_printed_script_reproduces_the_outcome(
    git_run: str, tmp_path: Path, test: str, code: int
) -> None:
    script = _repro(git_run, test).stdout
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
           "TMPDIR": str(tmp_path), "UV_CACHE_DIR": str(tmp_path / "uv")}  # fmt: skip
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(["bash", "-e", "-c", script], env=env, capture_output=True, text=True,
                          cwd=tmp_path, check=False)  # fmt: skip
    assert done.returncode == code, done.stdout + done.stderr
    assert ("1 failed" if code else "1 passed") in done.stdout


def test_run_executes_the_commands_and_exits_with_pytests_code(
    git_run: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv"))  # not the user's own uv cache
    failing = _repro(git_run, "test_below_two", "--run", "--workdir", str(tmp_path / "w1"))
    assert failing.exit_code == 1, failing.output
    assert "1 failed" in failing.stdout and "assert 2 < 2" in failing.stdout
    assert (tmp_path / "w1" / "src" / "requirements.txt").read_text().endswith("==2.0\n")
    passing = _repro("r1", TEST_VALUE, "--run")
    assert passing.exit_code == 0, passing.output
    assert "1 passed" in passing.stdout


def test_a_local_source_run_is_reproduced_in_place(dtf_home: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_local.py").write_text(
        "import os\n\ndef test_mode():\n    assert os.environ['DEMO_MODE'] == 'lenient'\n"
    )
    _record_run("local-1", dtf_home, ("test_local.py::test_mode",), str(project),
                source=str(project), parameters={})  # fmt: skip
    _store_outcome("local-1", ShardRequest("unit-0", ("test_local.py::test_mode",), project,
                                           env={"DEMO_MODE": "strict"}))  # fmt: skip
    printed = _repro("local-1", "test_mode")
    assert f"cd {project}" in printed.stdout and "git clone" not in printed.stdout
    ran = _repro("local-1", "test_mode", "--run")
    assert ran.exit_code == 1, ran.output  # DEMO_MODE=strict, as the suite set it
    assert "'strict' == 'lenient'" in ran.stdout


def test_an_unknown_test_is_refused_with_a_clear_message(git_run: str) -> None:
    result = _repro(git_run, "test_nowhere")
    assert isinstance(result.exception, StoreError)
    assert "'test_nowhere' matches none of the tests of run r1" in str(result.exception)
    several = _repro(git_run, "test_demo.py")
    assert "matches several" in str(several.exception)
