"""GitHub check runs as a GitHub App (PyGithub's real app auth) against a JWT-checking fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtf.publishing.outbox import Outbox
from dtf.publishing.service import deliver_pending, plan_run, publish_run
from dtf.publishing.spec import PublisherSpec
from dtf.store.results import ResultStore
from tests.fakes.github_app import (
    INSTALLATION_ID,
    FakeGitHubApp,
    public_key_pem,
    rsa_private_key_pem,
)
from tests.fakes.scenario import SHA, scenario_store, seed_baseline, seed_current
from tests.fakes.seed import SeededShard, cases, seed_run

APP_ID = 31337
KEY_ENV = "DTF_GITHUB_APP_PRIVATE_KEY"


@pytest.fixture(scope="module")
def app_key() -> str:
    return rsa_private_key_pem()


@pytest.fixture
def github(app_key: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHubApp]:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    fake = FakeGitHubApp(APP_ID, public_key_pem(app_key)).start()
    yield fake
    fake.stop()


@pytest.fixture
def store(tmp_path: Path, dtf_home: Path) -> Iterator[ResultStore]:
    with scenario_store(tmp_path / "store.duckdb") as seeded:
        yield seeded


def app_spec(fake: FakeGitHubApp, **extra: Any) -> PublisherSpec:
    return PublisherSpec.model_validate(
        {
            "kind": "github",
            "repo": "acme/models",
            "url": fake.url,
            "pr": 7,
            "app_id": APP_ID,
            "timeout_seconds": 0.5,
            "step_summary": False,
            **extra,
        }
    )


def publish(store: ResultStore, spec: PublisherSpec, key: str, run_id: str = "r2") -> Any:
    waits: list[float] = []
    report = publish_run(store, run_id, [spec], env={KEY_ENV: key}, sleep=waits.append)
    return report, waits


def ours(fake: FakeGitHubApp) -> list[dict[str, Any]]:
    return [c for c in fake.check_runs.values() if c["app_id"] == APP_ID]


def test_a_check_run_replaces_the_status_and_is_updated_in_place(
    store: ResultStore, github: FakeGitHubApp, app_key: str
):
    github.add_foreign_check_run(SHA, "dtf")  # a CI job's check of the same name: left alone
    report, _ = publish(store, app_spec(github), app_key)

    assert report.complete, report.pending
    assert github.statuses == []  # a check run instead of a commit status
    (check,) = ours(github)
    assert (check["name"], check["head_sha"], check["external_id"]) == ("dtf", SHA, "r2")
    assert (check["status"], check["conclusion"]) == ("completed", "failure")
    assert check["details_url"] == "http://prefect.local/runs/flow-run/42"
    assert check["output"]["title"].startswith("failed: ")
    assert "`r2`" in check["output"]["summary"] and "test_new_1" in check["output"]["text"]
    # The installation was discovered from the repository, its token got from a signed JWT,
    # and the PR comment was posted as the app too.
    discovered = github.calls("GET", "/repos/acme/models/installation")
    assert discovered >= 1 and github.jwts_seen >= 2
    assert github.calls("POST", f"/app/installations/{INSTALLATION_ID}/access_tokens") >= 1
    (comment,) = github.comments.values()
    assert "`r2`" in comment["body"]

    seed_run(store, "r3", [SeededShard("unit-0", "unit", cases("tests/test_ok.py", 3))],
             started_at=3_000.0, ref=SHA)  # fmt: skip
    report, _ = publish(store, app_spec(github, installation_id=INSTALLATION_ID), app_key, "r3")

    assert report.complete, report.pending
    (updated,) = ours(github)
    assert updated["id"] == check["id"] and updated["updates"] == 1
    assert (updated["conclusion"], updated["external_id"]) == ("success", "r3")
    assert len(github.check_runs) == 2 and github.statuses == []
    assert github.calls("GET", "/repos/acme/models/installation") == discovered  # id given


def test_5xx_and_429_on_the_token_exchange_and_the_check_run_are_retried(
    store: ResultStore, github: FakeGitHubApp, app_key: str
):
    github.fail_next(1, status=500, match="access_tokens")
    github.fail_next(1, status=429, headers={"Retry-After": "7"}, match="POST .*/check-runs")
    github.fail_next(1, status=502, match="GET .*/check-runs")
    report, waits = publish(store, app_spec(github, pr_comment=False), app_key)

    assert report.complete, report.pending
    assert len(waits) == 3 and 7 in waits
    assert len(ours(github)) == 1


def test_a_lost_reply_is_found_again_on_the_sha_not_created_twice(
    tmp_path: Path, dtf_home: Path, github: FakeGitHubApp, app_key: str
):
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    first = ResultStore(url)
    seed_baseline(first)
    seed_current(first)
    spec = app_spec(github, pr_comment=False)
    assert Outbox(first).record(plan_run(first, "r2", [spec])) == 1
    first.close()  # the process dies after recording, before sending

    second = ResultStore(url)
    github.fail_next(1, delay=1.2, match="POST .*/check-runs")  # created, but the reply is lost
    report = deliver_pending(second, env={KEY_ENV: app_key}, sleep=lambda s: None)
    again = publish_run(second, "r2", [spec], env={KEY_ENV: app_key})
    rows = Outbox(second).rows("r2")
    second.close()

    assert report.complete and again.sent == {} and again.pending == {}
    (check,) = ours(github)
    assert check.get("updates") == 1  # the retry found it by name on the SHA and updated it
    assert [r.remote_ref for r in rows] == [f"check_run:{check['id']}"]


def test_a_bad_key_is_a_configuration_error_that_does_not_show_the_key(
    store: ResultStore, github: FakeGitHubApp, app_key: str
):
    garbage = (
        "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END RSA PRIVATE KEY-----"
    )
    report, waits = publish(store, app_spec(github, pr_comment=False), garbage)
    (why,) = report.pending.values()
    assert "not a usable PEM RSA private key" in why and "private_key" in why
    assert "bm90IGEga2V5" not in why and waits == [] and github.requests == []

    other_key = rsa_private_key_pem()  # a real key, but not this app's: GitHub says 401
    seed_current(store, "r3")
    report, waits = publish(store, app_spec(github, pr_comment=False), other_key, "r3")
    (why,) = report.pending.values()
    assert "rejected (HTTP 401)" in why and waits == []  # permanent: not retried
    assert other_key.splitlines()[1] not in why
    rows = Outbox(store).rows("r3")
    assert all(other_key.splitlines()[1] not in r.last_error for r in rows)
    assert ours(github) == [] and github.tokens == []


def test_a_pem_on_one_line_with_escaped_newlines_is_accepted(
    store: ResultStore, github: FakeGitHubApp, app_key: str
):
    one_line = app_key.strip().replace("\n", "\\n")
    report, _ = publish(store, app_spec(github, pr_comment=False), one_line)
    assert report.complete, report.pending
    assert len(ours(github)) == 1
