"""e2e fixtures: run the real `dtf` command against the session's managed Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dtf.cluster.local import stop_cluster
from dtf.server import ServerInfo

REPO = Path(__file__).resolve().parents[2]
DTF = str(Path(sys.executable).with_name("dtf"))


def task_runs_named(
    api_url: str, flow_run_id: str, names: set[str], timeout: float = 60
) -> list[dict[str, Any]]:
    """The flow run's task runs with these names, waiting for all of them to be recorded
    as finished.

    Prefect 3 records task runs from events in a server-side service, so they can appear (and
    get their end time) a moment after the flow run is already COMPLETED.
    """
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.post(
            f"{api_url}/task_runs/filter",
            json={"flow_runs": {"id": {"any_": [flow_run_id]}}},
            timeout=10,
        )
        response.raise_for_status()
        found = [t for t in response.json() if t["name"] in names]
        finished = {t["name"] for t in found if t.get("end_time")}
        if finished >= names or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def flow_run_events(api_url: str, flow_run_id: str, until: str, timeout: float = 30) -> list[str]:
    """The names of the events about the flow run, once `until` is among them (or time is up):
    the server stores the events it is sent a moment later."""
    deadline = time.monotonic() + timeout
    since = datetime.now(UTC) - timedelta(hours=6)  # the API refuses a window past retention
    while True:
        response = httpx.post(
            f"{api_url}/events/filter",
            json={"filter": {"resource": {"id": [f"prefect.flow-run.{flow_run_id}"]},
                             "occurred": {"since": since.isoformat()}}, "limit": 50},
            timeout=10,
        )  # fmt: skip
        response.raise_for_status()
        names = [str(e["event"]) for e in response.json()["events"]]
        if until in names or time.monotonic() > deadline:
            return names
        time.sleep(0.5)


@dataclass
class DtfCommand:
    """Runs `dtf` as a user would, in the repository, with the session's dtf home."""

    home: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update({"DTF_HOME": str(self.home), "COLUMNS": "200"})
        env.pop("DTF_DATABASE_URL", None)
        return env

    def __call__(
        self, *args: str, timeout: float = 300, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DTF, *args], cwd=REPO, env={**self.env(), **(extra_env or {})},
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        """Start `dtf` in its own process group, so a test can kill it whole."""
        return subprocess.Popen(
            [DTF, *args], cwd=REPO, env=self.env(), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip


@pytest.fixture(scope="session")
def dtf_cli(prefect_server: ServerInfo, services_home: Path) -> Iterator[DtfCommand]:
    """`dtf` with no PREFECT_API_URL: it must find and reuse the session's managed server."""
    try:
        yield DtfCommand(services_home)
    finally:
        stop_cluster(services_home)
