"""Shared fixtures: a dtf home per test; one real Prefect server and Dask cluster per session."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dtf.cluster.local import ClusterInfo, ensure_cluster, stop_cluster
from dtf.cluster.profiles import default_profiles
from dtf.server import ServerInfo, ensure_server, server_env, stop_server

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
POSTGRES_ENV = "DTF_TEST_POSTGRES_URL"


def flow_run_logs(api_url: str, flow_run_id: str, wanted: str, timeout: float = 30) -> str:
    """The flow run's log messages on the Prefect server, once `wanted` is among them (or time
    is up): logs are sent in batches, a moment after they are written."""
    deadline = time.monotonic() + timeout
    while True:
        query = {"logs": {"flow_run_id": {"any_": [flow_run_id]}}}
        logs = httpx.post(f"{api_url}/logs/filter", json=query, timeout=10).json()
        text = "\n".join(str(entry["message"]) for entry in logs)
        if wanted in text or time.monotonic() > deadline:
            return text
        time.sleep(0.5)


def pytest_configure(config: pytest.Config) -> None:
    # No warm launcher is started behind the tests' backs (each would hold ~300 MB until its
    # idle timeout); tests/integration/test_warm_launcher.py turns it on where it is tested.
    os.environ["DTF_WARM"] = "0"


@pytest.fixture
def dtf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh dtf home (DTF_HOME) and an empty DuckDB store for one test."""
    home = tmp_path / "dtf-home"
    monkeypatch.setenv("DTF_HOME", str(home))
    monkeypatch.delenv("DTF_DATABASE_URL", raising=False)
    return home


@pytest.fixture(scope="session")
def services_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dtf home that owns the session's shared server and cluster."""
    return tmp_path_factory.mktemp("services-home")


@pytest.fixture(scope="session")
def prefect_server(services_home: Path) -> Iterator[ServerInfo]:
    """A real Prefect server managed by dtf, started once per test session."""
    info = ensure_server(services_home)
    try:
        yield info
    finally:
        stop_server(services_home)


@pytest.fixture(scope="session")
def server_environment(prefect_server: ServerInfo, services_home: Path) -> dict[str, str]:
    """Environment variables that point Prefect clients at the session's server."""
    return {"PREFECT_API_URL": prefect_server.api_url, **server_env(services_home)}


@pytest.fixture(scope="session")
def dask_cluster(services_home: Path) -> Iterator[ClusterInfo]:
    """A real local Dask scheduler with two workers; dtf-worker-0 simulates `cuda=1`."""
    home = services_home / "raw-dask"
    info = ensure_cluster(home, default_profiles(2), {})
    try:
        yield info
    finally:
        stop_cluster(home)


@pytest.fixture(params=["duckdb", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL on each backend: a DuckDB file, and a fresh PostgreSQL database."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'store.duckdb'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set (.ci/run sets it to the local PostgreSQL)")
    yield from _fresh_postgres_database(base, request.node.name)


def _fresh_postgres_database(base: str, test_name: str) -> Iterator[str]:
    import re
    import secrets

    from sqlalchemy import create_engine, text

    name = "dtf_" + re.sub(r"[^a-z0-9]", "_", test_name.lower())[:40] + "_" + secrets.token_hex(3)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
