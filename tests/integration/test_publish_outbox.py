"""The outbox end to end: restarts, outages, `dtf publish --retry`, and secrets never leaking."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from dtf.cli import app
from dtf.publishing.outbox import Outbox
from dtf.publishing.service import deliver_pending, plan_run, publish_run
from dtf.publishing.spec import PublisherSpec
from dtf.store.results import ResultStore
from dtf.store.schema import metadata
from dtf.validation.gate import validate_run
from dtf.validation.spec import Expectations
from tests.fakes.forges import FakeGitHub
from tests.fakes.jira import FakeJira
from tests.fakes.scenario import scenario_store, seed_current
from tests.fakes.slack import FakeSlack

SECRET = "s3cr3t-T0KEN-must-never-leak"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeJira, FakeSlack, FakeGitHub]]:
    started = (FakeJira(SECRET).start(), FakeSlack(SECRET).start(), FakeGitHub(SECRET).start())
    yield started
    for fake in started:
        fake.stop()


@pytest.fixture
def store_url(tmp_path: Path, dtf_home: Path) -> str:
    path = tmp_path / "store.duckdb"
    with scenario_store(path):
        pass  # seeded and closed: the tests open it by URL
    return f"duckdb:///{path}"


def specs(jira: FakeJira, slack: FakeSlack, github: FakeGitHub) -> list[PublisherSpec]:
    raw = [
        {"kind": "jira", "url": jira.url, "project": "ML", "timeout_seconds": 0.5},
        {"kind": "slack", "channel": "C1", "base_url": f"{slack.url}/api/", "timeout_seconds": 1},
        {
            "kind": "github",
            "repo": "acme/models",
            "url": github.url,
            "pr": 1,
            "timeout_seconds": 0.5,
            "step_summary": False,
        },
    ]
    return [PublisherSpec.model_validate({**r, "retry": {"max_attempts": 2}}) for r in raw]


ENV = {"DTF_JIRA_TOKEN": SECRET, "DTF_SLACK_TOKEN": SECRET, "GITHUB_TOKEN": SECRET}


def test_recorded_deliveries_survive_a_restart_and_are_sent_exactly_once(
    store_url: str, fakes: tuple[FakeJira, FakeSlack, FakeGitHub]
):
    jira, slack, github = fakes
    first = ResultStore(store_url)
    planned = plan_run(first, "r2", specs(*fakes))
    assert Outbox(first).record(planned) == len(planned) == 8
    first.close()  # the flow process dies before sending anything

    second = ResultStore(store_url)  # a fresh process on the same DuckDB file
    assert Outbox(second).record(plan_run(second, "r2", specs(*fakes))) == 0
    report = deliver_pending(second, env=ENV, sleep=lambda s: None)
    assert report.complete and len(report.sent) == 8
    again = publish_run(second, "r2", specs(*fakes), env=ENV)
    second.close()

    assert again.sent == {} and again.pending == {}
    assert (len(jira.issues), len(slack.posted()), len(github.comments)) == (3, 2, 1)


def test_an_outage_keeps_every_result_and_leaves_deliveries_pending_then_retry_sends(
    store_url: str, fakes: tuple[FakeJira, FakeSlack, FakeGitHub], monkeypatch: pytest.MonkeyPatch
):
    jira, slack, github = fakes
    store = ResultStore(store_url)
    before = store.results_of("r2")
    for fake in fakes:
        fake.outage = True

    report = publish_run(store, "r2", specs(*fakes), env=ENV, sleep=lambda s: None)

    assert store.results_of("r2") == before
    rows = Outbox(store).rows("r2")
    assert {r.status for r in rows} == {"pending"} and len(rows) == 8
    assert "unavailable (HTTP 503)" in report.pending[rows[0].delivery_id]
    # After the first delivery to a target exhausts its budget, its others are not tried.
    assert jira.calls("GET", "/rest/api/2/field") == 2
    assert any(r.last_error.startswith("not tried: jira was unavailable") for r in rows)
    store.close()

    for fake in fakes:
        fake.outage = False
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DTF_DATABASE_URL", store_url)
    result = CliRunner().invoke(app, ["publish", "--retry", "r2"])
    assert result.exit_code == 0, result.output
    assert result.output.count("sent ") == 8
    assert (len(jira.issues), len(slack.posted()), len(github.comments)) == (3, 2, 1)
    status = CliRunner().invoke(app, ["publish", "--status", "r2"])
    assert "pending" not in status.output


def test_secrets_appear_nowhere_in_the_store_logs_or_reports(
    store_url: str,
    fakes: tuple[FakeJira, FakeSlack, FakeGitHub],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
):
    jira, slack, github = fakes
    caplog.set_level(logging.DEBUG)
    store = ResultStore(store_url)
    outcome = validate_run(store, "r2", Expectations(), reports=tmp_path / "reports")
    jira.fail_next(1, status=500)
    slack.fail_next(1, status=429, headers={"Retry-After": "0"})
    github.outage = True  # failures too: error messages must not carry the token
    # Slack's token comes from a Prefect Secret block, resolved by the caller (the flow).
    jira_spec, slack_spec, github_spec = specs(*fakes)
    slack_spec = PublisherSpec.model_validate(
        {**slack_spec.model_dump(), **slack_spec.options, "token_secret_block": "slack-bot"}
    )
    blocks = {"slack-bot": SECRET}
    env = {k: v for k, v in ENV.items() if k != "DTF_SLACK_TOKEN"}
    chosen = [jira_spec, slack_spec, github_spec]
    publish_run(store, "r2", chosen, validation=outcome, env=env, blocks=blocks,
                sleep=lambda s: None)  # fmt: skip
    bad_env = {**env, "DTF_JIRA_TOKEN": SECRET + "-wrong"}
    seed_current(store, "r3")
    publish_run(store, "r3", chosen, env=bad_env, blocks=blocks, sleep=lambda s: None)

    assert len(jira.issues) == 3  # the publish really ran, with the token
    assert len(slack.posted()) == 4  # and with the block's token: two runs, two messages each
    dumped = []
    with store.transaction() as conn:
        for table in metadata.sorted_tables:
            dumped += [repr(tuple(row)) for row in conn.execute(select(table))]
    store.close()
    assert dumped and not any(SECRET in row for row in dumped)
    assert "DEBUG" in caplog.text and SECRET not in caplog.text
    for path in (tmp_path / "reports").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".html"):
            assert SECRET not in path.read_text(errors="replace"), path
