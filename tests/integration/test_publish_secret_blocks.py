"""Prefect Secret blocks as publishers' secrets, on the session's real Prefect server."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prefect.blocks.system import Secret
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import select

from dtf.publishing.outbox import Outbox
from dtf.server import ServerInfo
from dtf.store.results import ResultStore
from dtf.store.schema import metadata
from flows.finalize import publish_run
from tests.conftest import flow_run_logs
from tests.fakes.forges import FakeGitHub
from tests.fakes.scenario import SHA, scenario_store

DTF = str(Path(sys.executable).with_name("dtf"))


@pytest.fixture
def token() -> str:
    return "ghp_block_" + secrets.token_hex(16)


@pytest.fixture
def github(token: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)  # the block must be the only source
    fake = FakeGitHub(token).start()
    yield fake
    fake.stop()


@pytest.fixture
def api(prefect_server: ServerInfo) -> Iterator[str]:
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}):
        yield prefect_server.api_url


@pytest.fixture
def store_url(tmp_path: Path, dtf_home: Path) -> str:
    path = tmp_path / "store.duckdb"
    with scenario_store(path):
        pass  # seeded and closed: the tests open it by URL
    return f"duckdb:///{path}"


def campaign(tmp_path: Path, fake: FakeGitHub, block: str) -> Path:
    entry = {"kind": "github", "repo": "acme/models", "url": fake.url, "pr": 7,
             "step_summary": False, "token_secret_block": block, "timeout_seconds": 1}  # fmt: skip
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump({"name": "nightly", "suites": [{"name": "unit"}],
                                    "publishers": [entry]}))  # fmt: skip
    return path


def stored_text(url: str) -> str:
    store = ResultStore(url)
    try:
        with store.transaction() as conn:
            return "\n".join(
                repr(tuple(row)) for table in metadata.sorted_tables
                for row in conn.execute(select(table))
            )  # fmt: skip
    finally:
        store.close()


def test_the_flow_publishes_with_a_secret_block_that_leaks_nowhere(
    api: str, github: FakeGitHub, store_url: str, token: str, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    block = f"gh-token-{secrets.token_hex(4)}"
    Secret(value=token).save(block, overwrite=True)
    github.fail_next(1, status=502, match="statuses")  # an error path is logged too

    state = publish_run("r2", store_url, str(campaign(tmp_path, github, block)),
                        return_state=True)  # fmt: skip
    result: dict[str, Any] = state.result()

    assert list(result["pending"]) == [] and len(result["sent"]) == 2, result
    assert [s["sha"] for s in github.statuses] == [SHA] and len(github.comments) == 1
    assert {h.get("Authorization") for _, _, h, _ in github.requests} == {f"token {token}"}
    flow_run_id = str(state.state_details.flow_run_id)
    logs = flow_run_logs(api, flow_run_id, "published r2")
    assert "published r2: 2 sent" in logs and token not in logs
    query = {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}
    artifacts = httpx.post(f"{api}/artifacts/filter", json=query, timeout=10)
    assert token not in artifacts.text
    assert token not in caplog.text
    stored = stored_text(store_url)
    assert block in stored and token not in stored  # the block's name is kept, not its value


def test_a_missing_block_is_named_and_dtf_publish_retry_delivers_once_it_exists(
    api: str, github: FakeGitHub, store_url: str, token: str, tmp_path: Path, dtf_home: Path
) -> None:
    block = f"gh-token-{secrets.token_hex(4)}"
    result = publish_run("r2", store_url, str(campaign(tmp_path, github, block)))

    assert f"Prefect Secret block '{block}' does not exist" in result["error"]
    store = ResultStore(store_url)
    assert len(Outbox(store).pending("r2")) == 2  # recorded, waiting for the secret
    store.close()
    assert github.requests == []

    Secret(value=token).save(block, overwrite=True)
    env = {**os.environ, "PREFECT_API_URL": api, "DTF_DATABASE_URL": store_url,
           "DTF_HOME": str(dtf_home)}  # fmt: skip
    done = subprocess.run([DTF, "publish", "--retry", "r2"], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("sent ") == 2 and token not in done.stdout + done.stderr
    assert len(github.statuses) == 1 and len(github.comments) == 1
