"""A campaign whose source is a git URL and ref, with an environment: real dtf, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dtf.store.environments import environments_of
from dtf.store.results import ResultStore
from tests.e2e.conftest import DtfCommand
from tests.fakes.gitproject import TEST_BELOW_TWO, make_demo_repo, make_wheelhouse

pytestmark = pytest.mark.e2e


def _campaign(tmp_path: Path, url: str, ref: str, wheels: Path) -> Path:
    path = tmp_path / f"campaign-{ref}.yaml"
    path.write_text(
        "name: gitdemo\n"
        f"source: {{git: '{url}', ref: {ref}}}\n"
        "environment:\n"
        "  requirements: requirements.txt\n"
        f"  find_links: ['{wheels}']\n"
        "  no_index: true\n"
        "suites:\n"
        "  - name: unit\n"
        "    select: {paths: [tests/test_demo.py]}\n"
        "    requires: {cpu: 1}\n"
        # Runs in the worker's checkout: the campaign file's directory has no requirements.txt.
        "  - {name: files, kind: command, command: 'grep -q dtfdemo requirements.txt'}\n"
    )
    return path


def test_a_git_campaign_tests_the_pinned_commit_in_its_environment(
    dtf_cli: DtfCommand, tmp_path: Path
) -> None:
    demo = make_demo_repo(tmp_path / "origin")
    wheels = make_wheelhouse(tmp_path / "wh")
    done = dtf_cli("run", str(_campaign(tmp_path, demo.url, "main", wheels)), timeout=400)
    assert done.returncode == 1, done.stdout + done.stderr
    store = ResultStore(f"duckdb:///{dtf_cli.home / 'dtf.duckdb'}")
    run = store.recent_runs(1)[0]
    assert run["ref"] == demo.main
    assert json.loads(run["parameters"])["workspace"]["source"]["sha"] == demo.main
    outcomes = {r["test_id"]: r["outcome"] for r in store.results_of(run["run_id"])}
    assert outcomes[TEST_BELOW_TWO] == "failed" and len(outcomes) == 4, outcomes
    assert sum(o == "passed" for o in outcomes.values()) == 3
    assert outcomes["files::command"] == "passed"
    # Each worker that ran a shard recorded what its environment held, once.
    environments = environments_of(store, run["run_id"])
    store.close()
    assert environments and len({e["worker"] for e in environments}) == len(environments)
    assert all("dtfdemo==2.0" in e["packages"] and e["sha"] == demo.main for e in environments)
    shown = dtf_cli("show", str(run["run_id"]))
    assert shown.returncode == 0 and "dtfdemo==2.0" in shown.stdout, shown.stdout + shown.stderr
    repro = dtf_cli("repro", str(run["run_id"]), "test_below_two", "--run", timeout=200)
    assert repro.returncode == 1, repro.stdout + repro.stderr
    passed = dtf_cli("run", str(_campaign(tmp_path, demo.url, "v1", wheels)), timeout=400)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    bad = dtf_cli("run", str(_campaign(tmp_path, demo.url, "nope", wheels)), timeout=400)
    assert bad.returncode != 0 and "unknown ref 'nope'" in bad.stdout + bad.stderr
    unresolvable = _campaign(tmp_path, demo.url, "v1", wheels)
    unresolvable.write_text(
        unresolvable.read_text().replace(
            "  no_index: true\n", "  no_index: true\n  packages: ['dtf-nothing==1.0']\n"
        )
    )
    broken = dtf_cli("run", str(unresolvable), timeout=400)
    text = broken.stdout + broken.stderr
    assert broken.returncode != 0 and "dtf-nothing was not found" in text, text
    print(text[-2500:])
