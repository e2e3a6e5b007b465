"""Publisher secrets by reference (variables, Prefect Secret blocks) and check-run content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dtf.errors import PublishError, SpecError
from dtf.publishing.base import DeliveryContext, PublishInput, build_publisher
from dtf.publishing.config import read_publishers
from dtf.publishing.github_checks import MAX_TEXT, check_run_body, conclusion_of
from dtf.validation.facts import ResultRow, RunFacts
from dtf.validation.gate import ValidationOutcome


def read(tmp_path: Path, entry: str) -> Any:
    path = tmp_path / "campaign.yaml"
    path.write_text("name: x\npublishers:\n" + entry)
    return read_publishers(path)


def test_a_secret_may_come_from_a_prefect_secret_block(tmp_path: Path):
    (spec,) = read(
        tmp_path,
        "  - kind: github\n    repo: acme/models\n    app_id: 12\n"
        "    private_key_secret_block: gh-app-key\n    token_secret_block: gh-token\n",
    )
    _, options = build_publisher(spec.kind, spec.options)
    assert options.secret_blocks == {"private_key": "gh-app-key", "token": "gh-token"}
    assert options.block_names() == ["gh-app-key", "gh-token"]
    # The options travel through the outbox as JSON and come back the same.
    _, again = build_publisher(spec.kind, options.model_dump(mode="json"))
    assert again == options


def ctx(env: dict[str, str], blocks: dict[str, str]) -> DeliveryContext:
    return DeliveryContext(None, "r1", "github", "r1/github/x/y", env, lambda _: None, blocks)  # type: ignore[arg-type]


def test_a_block_secret_is_read_from_the_resolved_blocks_never_the_environment():
    _, options = build_publisher("slack", {"channel": "C1", "token_secret_block": "slack-bot"})
    env = {"DTF_SLACK_TOKEN": "from-env"}
    assert ctx(env, {"slack-bot": "from-block"}).secret_of(options, "token") == "from-block"
    with pytest.raises(PublishError, match="Prefect Secret block 'slack-bot'"):
        ctx(env, {}).secret_of(options, "token")
    _, plain = build_publisher("slack", {"channel": "C1"})
    assert ctx(env, {}).secret_of(plain, "token") == "from-env"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("    channel: C1\n    tokn_secret_block: x\n", "no secret 'tokn' (its secrets: token)"),
        ("    channel: C1\n    token_secret_block: Bad_Name\n", "must name a Prefect Secret"),
        ("    channel: C1\n    private_key: '-----BEGIN'\n", "never hold secrets"),
    ],
)
def test_bad_secret_references_are_spec_errors(tmp_path: Path, entry: str, message: str):
    with pytest.raises(SpecError) as caught:
        read(tmp_path, "  - kind: slack\n" + entry)
    assert message in str(caught.value) and "field 'publishers[" in str(caught.value)


def facts(verdict: str | None, results: tuple[ResultRow, ...] = ()) -> RunFacts:
    run = {"verdict": verdict, "status": "completed" if verdict else "running"}
    return RunFacts("r1", "nightly", run, results)


def test_the_conclusion_follows_the_verdict_and_the_gate():
    failed_gate = ValidationOutcome("r1", passed=False, checked=1)
    assert conclusion_of(PublishInput(facts("passed"))) == "success"
    assert conclusion_of(PublishInput(facts("passed"), failed_gate)) == "failure"
    assert conclusion_of(PublishInput(facts("failed"))) == "failure"
    assert conclusion_of(PublishInput(facts("cancelled"))) == "neutral"
    running = check_run_body(PublishInput(facts(None)), "abc", "dtf", None)
    assert (running["status"], running["conclusion"]) == ("in_progress", None)


def test_output_is_cut_to_githubs_limit_and_details_url_is_http_only():
    rows = tuple(
        ResultRow(f"tests/t.py::test_{i}", "unit", "cpu", "failed", 0.1, "E" * 5000)
        for i in range(200)
    )
    body = check_run_body(PublishInput(facts("failed", rows)), "abc", "dtf", None)
    text = body["output"]["text"]
    assert len(text) == MAX_TEXT and text.endswith("the dtf report has everything)")
    assert body["details_url"] is None
    linked = check_run_body(
        PublishInput(facts("failed")), "abc", "dtf", "https://ci.example/{campaign}/{run_id}"
    )
    assert linked["details_url"] == "https://ci.example/nightly/r1"
