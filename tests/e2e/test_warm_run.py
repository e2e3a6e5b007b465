"""`dtf run` through the warm launcher: the same campaign, server and store as a cold run."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from dtf.server import ServerInfo
from dtf.store.results import ResultStore
from dtf.warm.launcher import ensure_launcher, launcher_state, stop_launcher
from dtf.warm.protocol import log_path, socket_path
from tests.conftest import flow_run_logs
from tests.e2e.conftest import DTF, REPO, DtfCommand

pytestmark = pytest.mark.e2e
CAMPAIGN = "examples/quickstart/campaign.yaml"  # relative: the client's cwd must travel


def test_a_warm_run_reaches_the_sessions_server_and_stores_its_results(
    dtf_cli: DtfCommand, prefect_server: ServerInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = dtf_cli.home
    monkeypatch.delenv("DTF_WARM")  # the suite turns launchers off; this test is about one
    assert ensure_launcher(home) is not None
    try:
        deadline = time.monotonic() + 90
        while launcher_state(home) is None or not socket_path(home).exists():
            assert time.monotonic() < deadline, log_path(home).read_text()
            time.sleep(0.2)
        env = dtf_cli.env()
        env.pop("DTF_WARM", None)
        argv = [DTF, "run", CAMPAIGN, "-k", "not punctuation", "--run-id", "warm-quickstart"]
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        served = [line for line in log_path(home).read_text().splitlines() if " served " in line]
        assert len(served) == 1, log_path(home).read_text()
        assert done.returncode == 0, done.stdout + done.stderr
        # The child read PREFECT_API_URL as the CLI set it, not Prefect's import-time settings:
        # no temporary server, and the flow run is on the session's server.
        assert "temporary server" not in done.stdout + done.stderr
        assert f"Prefect flow run: {prefect_server.ui_url}/" in done.stdout
        run_id = "warm-quickstart"
        store = ResultStore(f"duckdb:///{Path(home) / 'dtf.duckdb'}")
        run = store.run(run_id)
        assert run is not None and run["verdict"] == "passed"
        rows = store.results_of(run_id)
        assert len(rows) == 27 and "failed" not in {r["outcome"] for r in rows}
        # The flow run's last log line is on the server, though the client left first.
        final = "Finished in state Completed()"
        assert final in flow_run_logs(prefect_server.api_url, str(run["flow_run_id"]), final)
    finally:
        stop_launcher(home)
