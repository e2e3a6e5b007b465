"""JIRA through the `jira` client against a local fake: clusters, escalations, fixes, faults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtf.publishing.content import label_of_test
from dtf.publishing.outbox import Outbox
from dtf.publishing.service import publish_run
from dtf.publishing.spec import PublisherSpec
from dtf.store.results import ResultStore
from tests.fakes.jira import FakeJira
from tests.fakes.scenario import FIXED, NEW_CLUSTER, scenario_store, seed_current

TOKEN = "jira-pat-0123456789"


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    fake = FakeJira(TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture
def store(tmp_path: Path, dtf_home: Path) -> Iterator[ResultStore]:
    with scenario_store(tmp_path / "store.duckdb") as seeded:
        yield seeded


def spec(fake: FakeJira, **options: Any) -> PublisherSpec:
    return PublisherSpec.model_validate(
        {"kind": "jira", "url": fake.url, "project": "ML", "timeout_seconds": 0.5, **options}
    )


def publish(store: ResultStore, fake: FakeJira, run_id: str = "r2", **options: Any) -> Any:
    waits: list[float] = []
    report = publish_run(
        store, run_id, [spec(fake, **options)], env={"DTF_JIRA_TOKEN": TOKEN}, sleep=waits.append
    )
    return report, waits


def labelled(fake: FakeJira, label: str) -> list[dict[str, Any]]:
    return [i for i in fake.issues.values() if label in i["fields"]["labels"]]


def test_one_issue_per_new_failure_cluster_and_one_infrastructure_issue(
    store: ResultStore, jira: FakeJira
):
    report, _ = publish(store, jira)

    assert report.complete, report.pending
    summaries = sorted(i["fields"]["summary"] for i in jira.issues.values())
    assert len(summaries) == 3, summaries
    assert "[dtf] nightly: failed: AssertionError: assert N == N" in summaries
    assert "[dtf] infrastructure: infrastructure on cuda" in summaries
    cluster = labelled(jira, label_of_test(NEW_CLUSTER[0]))[0]
    assert label_of_test(NEW_CLUSTER[1]) in cluster["fields"]["labels"]
    assert cluster["fields"]["issuetype"] == {"name": "Bug"}
    assert "dtf" in cluster["fields"]["labels"]
    # Every delivery is in the outbox, sent, with the issue key as its reference.
    rows = Outbox(store).rows("r2")
    assert {r.status for r in rows} == {"sent"}
    assert cluster["key"] in {r.remote_ref for r in rows}


def test_publishing_again_creates_nothing_and_a_new_run_comments_on_the_open_issue(
    store: ResultStore, jira: FakeJira
):
    publish(store, jira)
    again, _ = publish(store, jira)
    assert again.sent == {} and again.recorded == 0
    assert len(jira.issues) == 3

    # Another campaign's run fails the same way: same fingerprint label, so a comment (its
    # one extra issue is test_old, which has no baseline there and so is new).
    seed_current(store, "other-1", campaign="other")
    publish(store, jira, run_id="other-1")
    assert len(jira.issues) == 4
    assert len(labelled(jira, label_of_test(NEW_CLUSTER[0]))) == 1
    cluster = labelled(jira, label_of_test(NEW_CLUSTER[0]))[0]
    assert len(jira.comments[cluster["key"]]) == 1
    assert "Still failing" in jira.comments[cluster["key"]][0]["body"]


def test_a_fixed_test_comments_and_transitions_its_issue(store: ResultStore, jira: FakeJira):
    old = jira.create_issue_directly(label_of_test(FIXED))

    publish(store, jira, on_fix="transition")

    assert jira.issues[old]["fields"]["status"]["name"] == "Done"
    assert "passes again in run r2" in jira.comments[old][0]["body"]


def test_a_fixed_test_only_comments_by_default(store: ResultStore, jira: FakeJira):
    old = jira.create_issue_directly(label_of_test(FIXED))
    publish(store, jira)
    assert jira.issues[old]["fields"]["status"]["name"] == "Open"
    assert len(jira.comments[old]) == 1


def test_500_and_429_are_retried_honouring_retry_after(store: ResultStore, jira: FakeJira):
    jira.fail_next(1, status=500)
    jira.fail_next(1, status=429, headers={"Retry-After": "7"})

    report, waits = publish(store, jira)

    assert report.complete, report.pending
    assert len(jira.issues) == 3
    assert waits[1] >= 7.0  # the second wait follows the 429 and honours its Retry-After
    assert max(r.attempts for r in Outbox(store).rows("r2")) == 3


def test_a_lost_reply_is_found_again_by_label_and_never_duplicated(
    store: ResultStore, jira: FakeJira
):
    # JIRA creates the issue, but its reply comes after the client's timeout: JIRA has the
    # issue, dtf does not know it.
    jira.fail_next(1, delay=1.0, match="POST /rest/api/2/issue$")

    report, waits = publish(store, jira)

    assert report.complete, report.pending
    assert len(jira.issues) == 3
    assert len(waits) == 1
    assert jira.calls("POST", "/rest/api/2/issue") == 3
    assert all(not comments for comments in jira.comments.values())
