"""A browser suite through the campaign flow: pages on the worker that offers Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dtf.cluster.profiles import local_browsers
from dtf.store.results import ResultStore
from tests.conftest import FIXTURES
from tests.e2e.conftest import DtfCommand

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        "chromium" not in local_browsers(), reason="needs Debian's chromium and chromium-driver"
    ),
]


def test_pages_run_in_the_browser_pool_and_a_failing_page_fails_the_campaign(
    dtf_cli: DtfCommand, tmp_path: Path
) -> None:
    spec = {
        "name": "pages",
        "source": str(FIXTURES / "browser_pages"),
        "suites": [{
            "name": "web", "kind": "browser",
            "browser": {"root": ".", "pool_size": 1, "page_timeout": 30,
                        "pages": ["pass.html", "fail.html", "metrics.html"]},
        }],
    }  # fmt: skip
    campaign = tmp_path / "pages.yaml"
    campaign.write_text(yaml.safe_dump(spec), encoding="utf-8")
    done = dtf_cli("run", str(campaign))
    assert done.returncode == 1, done.stdout + done.stderr
    store = ResultStore(f"duckdb:///{dtf_cli.home / 'dtf.duckdb'}")
    run_id = str(store.recent_runs(1)[0]["run_id"])
    rows = {r["test_id"]: r for r in store.results_of(run_id)}
    assert rows["pass.html"]["outcome"] == "passed"
    assert rows["fail.html"]["outcome"] == "failed"
    assert {r["worker"] for r in rows.values()} == {"dtf-worker-1"}  # the one offering Chromium
    assert store.metrics_of(run_id), "metrics.html reports metrics"
    store.close()
