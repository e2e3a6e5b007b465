"""Slack through slack_sdk's WebClient against a local fake: summary, threads, faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtf.publishing.service import publish_run
from dtf.publishing.spec import PublisherSpec
from dtf.store.results import ResultStore
from tests.fakes.scenario import NEW_CLUSTER, scenario_store, seed_current
from tests.fakes.slack import FakeSlack

TOKEN = "xoxb-slack-bot-token-42"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture
def store(tmp_path: Path, dtf_home: Path) -> Iterator[ResultStore]:
    with scenario_store(tmp_path / "store.duckdb") as seeded:
        yield seeded


def publish(store: ResultStore, fake: FakeSlack, token: str = TOKEN) -> Any:
    spec = PublisherSpec.model_validate(
        {"kind": "slack", "channel": "C0DTF", "base_url": f"{fake.url}/api/", "timeout_seconds": 1}
    )
    waits: list[float] = []
    report = publish_run(store, "r2", [spec], env={"DTF_SLACK_TOKEN": token}, sleep=waits.append)
    return report, waits


def test_a_block_kit_summary_and_a_threaded_follow_up_per_escalation(
    store: ResultStore, slack: FakeSlack
):
    report, _ = publish(store, slack)

    assert report.complete, report.pending
    (summary,) = slack.posted(thread=False)
    (follow_up,) = slack.posted(thread=True)
    assert follow_up["thread_ts"] == summary["ts"]
    assert "gpu-0" in follow_up["text"] and "infrastructure" in follow_up["text"]
    blocks = json.dumps(summary["blocks"])
    assert summary["blocks"][0]["type"] == "header"
    assert "dtf campaign nightly: failed" in summary["blocks"][0]["text"]["text"]
    for expected in (
        "*New failures*\\n3",
        "*Flaky*\\n1",
        NEW_CLUSTER[0],
        "http://prefect.local/runs/flow-run/42",
    ):
        assert expected in blocks
    assert report.sent[next(k for k in report.sent if k.endswith("summary"))] == (
        f"C0DTF/{summary['ts']}"
    )


def test_publishing_twice_posts_once(store: ResultStore, slack: FakeSlack):
    publish(store, slack)
    publish(store, slack)
    assert len(slack.posted()) == 2


def test_a_lost_reply_is_found_by_message_metadata(store: ResultStore, slack: FakeSlack):
    slack.fail_next(1, delay=1.5, match="chat.postMessage")
    report, waits = publish(store, slack)
    assert report.complete, report.pending
    assert len(slack.posted(thread=False)) == 1
    assert len(waits) == 1


def test_rate_limits_are_honoured_and_bad_tokens_stay_pending(store: ResultStore, slack: FakeSlack):
    slack.fail_next(1, status=429, headers={"Retry-After": "4"}, match="chat.postMessage")
    report, waits = publish(store, slack)
    assert report.complete and waits[0] >= 4

    seed_current(store, "r3")
    spec = PublisherSpec.model_validate(
        {"kind": "slack", "channel": "C0DTF", "base_url": f"{slack.url}/api/"}
    )
    bad = publish_run(store, "r3", [spec], env={"DTF_SLACK_TOKEN": "xoxb-wrong-token"})
    assert len(bad.pending) == 2
    assert any("rejected (HTTP 400): invalid_auth" in why for why in bad.pending.values())
