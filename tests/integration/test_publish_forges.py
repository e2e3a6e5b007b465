"""GitHub (PyGithub) and GitLab (python-gitlab) against local fakes: statuses, one comment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtf.publishing.service import publish_run
from dtf.publishing.spec import PublisherSpec
from dtf.store.results import ResultStore
from tests.fakes.forges import FakeGitHub, FakeGitLab
from tests.fakes.scenario import SHA, scenario_store, seed_current

TOKEN = "ghp_forge_token_0123456789"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab(TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture
def store(tmp_path: Path, dtf_home: Path) -> Iterator[ResultStore]:
    with scenario_store(tmp_path / "store.duckdb") as seeded:
        yield seeded


def gh_spec(fake: FakeGitHub) -> PublisherSpec:
    return PublisherSpec.model_validate(
        {"kind": "github", "repo": "acme/models", "url": fake.url, "pr": 7, "timeout_seconds": 0.5}
    )


def gl_spec(fake: FakeGitLab) -> PublisherSpec:
    return PublisherSpec.model_validate(
        {
            "kind": "gitlab",
            "project": "acme/models",
            "url": fake.url,
            "mr": 3,
            "timeout_seconds": 0.5,
        }
    )


def publish(store: ResultStore, spec: PublisherSpec, run_id: str = "r2") -> Any:
    waits: list[float] = []
    env = {"GITHUB_TOKEN": TOKEN, "DTF_GITLAB_TOKEN": TOKEN}
    return publish_run(store, run_id, [spec], env=env, sleep=waits.append), waits


def test_github_status_and_one_pr_comment_updated_in_place(
    store: ResultStore, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    report, _ = publish(store, gh_spec(github))
    assert report.complete, report.pending
    (status,) = github.statuses
    assert (status["sha"], status["state"], status["context"]) == (SHA, "failure", "dtf")
    assert status["target_url"] == "http://prefect.local/runs/flow-run/42"
    (comment,) = github.comments.values()
    assert comment["issue"] == 7 and "<!-- dtf:campaign:nightly -->" in comment["body"]
    assert "`r2`" in comment["body"]

    seed_current(store, "r3")
    publish(store, gh_spec(github), "r3")
    (updated,) = github.comments.values()
    assert updated["id"] == comment["id"] and "`r3`" in updated["body"]
    assert len(github.statuses) == 2


def test_github_job_summary_is_written_once(
    store: ResultStore, github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    publish(store, gh_spec(github))
    publish(store, gh_spec(github))
    text = summary.read_text()
    assert text.startswith("earlier step\n")
    assert text.count("dtf campaign `nightly`") == 1


def test_github_5xx_and_timeouts_are_retried(store: ResultStore, github: FakeGitHub):
    github.fail_next(2, status=502, match="statuses")
    github.fail_next(1, delay=1.2, match="POST .*/comments")
    report, waits = publish(store, gh_spec(github))
    assert report.complete, report.pending
    assert len(waits) == 3
    assert len(github.comments) == 1  # the comment whose reply was lost is found again


def test_gitlab_status_and_one_merge_request_note(store: ResultStore, gitlab: FakeGitLab):
    report, _ = publish(store, gl_spec(gitlab))
    assert report.complete, report.pending
    (status,) = gitlab.statuses
    assert (status["sha"], status["state"], status["name"]) == (SHA, "failed", "dtf")
    (note,) = gitlab.notes.values()
    assert note["noteable_iid"] == 3 and "`r2`" in note["body"]

    seed_current(store, "r3")
    publish(store, gl_spec(gitlab), "r3")
    (updated,) = gitlab.notes.values()
    assert updated["id"] == note["id"] and "`r3`" in updated["body"]


def test_gitlab_429_honours_retry_after_and_500_is_retried(store: ResultStore, gitlab: FakeGitLab):
    gitlab.fail_next(1, status=429, headers={"Retry-After": "9"}, match="statuses")
    gitlab.fail_next(1, status=500, match="notes")
    report, waits = publish(store, gl_spec(gitlab))
    assert report.complete, report.pending
    assert waits[0] >= 9 and len(waits) == 2
