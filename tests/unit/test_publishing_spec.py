"""Publisher configuration, the entry-point registry, message clustering and retry backoff."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

from dtf.errors import PublishError, SpecError
from dtf.publishing.base import GROUP, build_publisher, delivery_id
from dtf.publishing.config import read_publishers
from dtf.publishing.content import clusters, signature
from dtf.publishing.retry import Deadline, call_with_retry
from dtf.publishing.spec import RetryBudget
from dtf.validation.facts import ResultRow

CAMPAIGN = """\
name: nightly
suites: [{name: unit}]
publishers:
  - kind: jira
    url: https://jira.example.com
    project: ML
    on_fix: transition
  - kind: slack
    name: slack-ml
    channel: C123
    retry: {max_attempts: 2}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(text)
    return path


def test_builtins_are_registered_as_entry_points():
    names = {ep.name for ep in entry_points(group=GROUP)}
    assert {"jira", "slack", "github", "gitlab", "junit", "prometheus"} <= names
    publisher, options = build_publisher("junit", {"path": "out.xml"})
    assert (
        type(publisher).__name__ == "JUnitPublisher" and options.model_dump()["path"] == "out.xml"
    )


def test_reads_publishers_with_their_options(tmp_path: Path):
    jira, slack = read_publishers(write(tmp_path, CAMPAIGN))
    assert (jira.kind, jira.label, jira.options["on_fix"]) == ("jira", "jira", "transition")
    assert (slack.label, slack.retry.max_attempts) == ("slack-ml", 2)


@pytest.mark.parametrize(
    ("entry", "line", "message"),
    [
        ("  - kind: slack\n    channel: C1\n    token: xoxb-123\n", 4, "never hold secrets"),
        ("  - kind: slack\n    channel: C1\n    chanel: C2\n", 5, "unknown key"),
        ("  - kind: teams\n", 4, "no publisher 'teams'"),
        ("  - kind: jira\n    url: u\n    project: P\n    on_fix: close\n", 7, "on_fix"),
    ],
)
def test_errors_name_the_file_line_and_field(tmp_path: Path, entry: str, line: int, message: str):
    path = write(tmp_path, "name: x\npublishers:\n" + entry)
    with pytest.raises(SpecError) as caught:
        read_publishers(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert caught.value.line is not None and caught.value.line <= line


def test_failure_messages_cluster_by_their_normalized_last_line():
    def row(test: str, message: str) -> ResultRow:
        return ResultRow(test, "unit", "cpu", "failed", 0.1, message)

    rows = [
        row("a", "x\nE   AssertionError: assert 3 == 4"),
        row("b", "AssertionError: assert 17 == 4"),
        row("c", "KeyError: 'model_0x7f3a'"),
        row("d", "AssertionError: tensor at 0xdeadbeef differs"),
    ]
    found = clusters(rows)
    assert sorted(t.test_id for t in found[0].tests) == ["a", "b"]
    assert len(found) == 3
    assert signature("at /tmp/pytest-of-root/pytest-3/x.py:12") == "at /…/x.py:N"


def test_delivery_ids_are_stable_and_bounded():
    assert delivery_id("r1", "jira", "failure", "abc") == "r1/jira/failure/abc"
    long = delivery_id("r1", "jira", "fixed", "x" * 500)
    assert long == delivery_id("r1", "jira", "fixed", "x" * 500) and len(long) < 80


class Clock:
    """A clock that sleeping advances: retry timing without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def flaky_call(errors: list[PublishError]) -> object:
    def call() -> str:
        if errors:
            raise errors.pop(0)
        return "ref-1"

    return call


def test_retry_honours_retry_after_and_backs_off():
    clock = Clock()
    errors = [
        PublishError("503", transient=True),
        PublishError("429", transient=True, retry_after=12.0),
    ]
    value, attempts = call_with_retry(
        flaky_call(errors),
        RetryBudget(base_delay=1.0),  # type: ignore[arg-type]
        Deadline(60, clock=lambda: clock.now),
        clock.sleep,
    )
    assert (value, attempts.count, attempts.error) == ("ref-1", 3, None)
    assert 0.5 <= clock.waits[0] <= 1.0 and clock.waits[1] == 12.0


def test_retry_stops_at_permanent_errors_attempts_and_budget():
    clock = Clock()
    deadline = Deadline(10, clock=lambda: clock.now)
    permanent = [PublishError("401")]
    _, attempts = call_with_retry(flaky_call(permanent), RetryBudget(), deadline, clock.sleep)  # type: ignore[arg-type]
    assert attempts.count == 1 and clock.waits == []

    many = [PublishError("503", transient=True) for _ in range(10)]
    _, attempts = call_with_retry(
        flaky_call(many),
        RetryBudget(max_attempts=3),
        deadline,  # type: ignore[arg-type]
        clock.sleep,
    )
    assert attempts.count == 3 and attempts.error is not None

    slow = [PublishError("429", transient=True, retry_after=30.0)]
    _, attempts = call_with_retry(flaky_call(slow), RetryBudget(), deadline, clock.sleep)  # type: ignore[arg-type]
    assert attempts.count == 1 and "retry budget spent" in str(attempts.error)
