"""`dtf quarantine verify`: the verify-quarantine flow on the real server and cluster."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml

from dtf.server import ServerInfo
from dtf.store.quarantines import quarantines
from dtf.store.results import ResultStore
from tests.conftest import FIXTURES
from tests.e2e.conftest import DtfCommand

pytestmark = pytest.mark.e2e

CAMPAIGN = "verify-chaos"
FIXED = "tests/test_quarantined.py::test_fixed_since"
BROKEN = "tests/test_quarantined.py::test_still_*"
GONE = "tests/test_removed.py::*"


def _campaign(tmp_path: Path) -> Path:
    suite = {"name": "q", "select": {"paths": ["tests/test_quarantined.py"]}}
    spec = {"name": CAMPAIGN, "source": str(FIXTURES / "chaos"), "suites": [suite]}
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_verify_releases_the_test_that_passes_every_run_and_keeps_the_broken_one(
    dtf_cli: DtfCommand, tmp_path: Path, prefect_server: ServerInfo
) -> None:
    campaign = _campaign(tmp_path)
    nothing = dtf_cli("quarantine", "verify", str(campaign))
    assert nothing.returncode == 0, nothing.stdout + nothing.stderr
    assert "no active quarantine: nothing to verify" in nothing.stdout
    for pattern in (FIXED, BROKEN, GONE):
        added = dtf_cli("quarantine", "add", pattern, "-c", CAMPAIGN, "--reason", "flaky",
                        "--owner", "JIRA-7")  # fmt: skip
        assert added.returncode == 0, added.stdout + added.stderr

    done = dtf_cli("quarantine", "verify", str(campaign), "--runs", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"released {FIXED}: {FIXED} passed 3 of 3 runs" in done.stdout
    assert f"kept {BROKEN}: tests/test_quarantined.py::test_still_broken: failed in 3 of 3" in (
        done.stdout
    )
    assert f"kept {GONE}: matches no collected test" in done.stdout

    store = ResultStore(f"duckdb:///{dtf_cli.home / 'dtf.duckdb'}")
    try:
        assert [e.pattern for e in quarantines(store, CAMPAIGN)] == [BROKEN, GONE]
        [released] = [e for e in quarantines(store, CAMPAIGN, include_released=True)
                      if e.released_at is not None]  # fmt: skip
        [run] = store.recent_runs(1, campaign=f"{CAMPAIGN}.verify-quarantine")
        assert released.pattern == FIXED
        assert released.reason == f"flaky [released: {FIXED} passed 3 of 3 runs ({run['run_id']})]"
        assert (run["trigger"], run["status"], run["verdict"]) == (
            "verify-quarantine", "completed", "failed",
        )  # fmt: skip
        report = json.loads(run["parameters"])["verify"]
        assert set(report["released"]) == {FIXED} and set(report["kept"]) == {BROKEN, GONE}
        rows = store.results_of(run["run_id"])
        outcomes = sorted((r["test_id"].split("::")[1], r["attempt"], r["outcome"]) for r in rows)
        assert outcomes == [("test_fixed_since", n, "passed") for n in range(3)] + [
            ("test_still_broken", n, "failed") for n in range(3)
        ]
        flow_run_id = run["flow_run_id"]
    finally:
        store.close()
    flow_run = httpx.get(f"{prefect_server.api_url}/flow_runs/{flow_run_id}", timeout=10).json()
    assert flow_run["state_type"] == "COMPLETED"
    assert flow_run["name"].endswith(" (verify-quarantine) x3")
    assert {"campaign:verify-chaos", "trigger:verify-quarantine"} <= set(flow_run["tags"])
