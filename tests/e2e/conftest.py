"""e2e fixtures: run the real `dtf` command against the session's managed Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dtf.cluster.local import stop_cluster
from dtf.server import ServerInfo

REPO = Path(__file__).resolve().parents[2]
DTF = str(Path(sys.executable).with_name("dtf"))


@dataclass
class DtfCommand:
    """Runs `dtf` as a user would, in the repository, with the session's dtf home."""

    home: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update({"DTF_HOME": str(self.home), "COLUMNS": "200"})
        env.pop("DTF_DATABASE_URL", None)
        return env

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DTF, *args], cwd=REPO, env=self.env(), capture_output=True, text=True,
            timeout=timeout,
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
