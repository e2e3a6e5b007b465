"""The campaign flow's validation gate and publishing, end to end through `dtf run`."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from dtf.store.results import ResultStore
from tests.e2e.conftest import REPO, DtfCommand

pytestmark = pytest.mark.e2e


def _campaign(tmp_path: Path, max_rate: float) -> Path:
    spec = {
        "name": "gated",
        "source": str(REPO / "examples" / "quickstart"),
        "suites": [{"name": "training", "select": {"paths": ["tests/test_training_loop.py"]}}],
        "expectations": {
            "pass_rate": [{"at_least": 1.0}],
            "metrics": [{"name": "train_steps_per_second", "max": max_rate}],
        },
        "publishers": [{"kind": "junit", "path": str(tmp_path / "junit-{run_id}.xml")}],
    }
    path = tmp_path / f"gated-{max_rate:g}.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_a_failed_expectation_fails_a_green_campaign(dtf_cli: DtfCommand, tmp_path: Path) -> None:
    done = dtf_cli("run", str(_campaign(tmp_path, max_rate=1.0)))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "expectation failed" in done.stdout and "train_steps_per_second" in done.stdout
    store = ResultStore(f"duckdb:///{dtf_cli.home / 'dtf.duckdb'}")
    run = store.recent_runs(1)[0]
    assert run["verdict"] == "failed" and run["failing"] == 0  # every test passed
    store.close()


def test_a_passing_gate_passes_and_junit_is_published(dtf_cli: DtfCommand, tmp_path: Path) -> None:
    done = dtf_cli("run", str(_campaign(tmp_path, max_rate=1e15)))
    assert done.returncode == 0, done.stdout + done.stderr
    store = ResultStore(f"duckdb:///{dtf_cli.home / 'dtf.duckdb'}")
    run_id = str(store.recent_runs(1)[0]["run_id"])
    store.close()
    report = ET.parse(tmp_path / f"junit-{run_id}.xml").getroot()
    cases = report.findall(".//testcase")
    assert len(cases) == 4 and not report.findall(".//failure")
    assert (dtf_cli.home / "runs" / run_id / "data_docs" / "index.html").is_file()
