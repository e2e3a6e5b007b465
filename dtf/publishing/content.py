"""What publishers say about a run: failure clusters, counts, and a markdown summary."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from dtf.publishing.base import PublishInput, short_hash
from dtf.validation.facts import Escalation, ResultRow

MAX_LISTED = 20
_NORMALISERS = (
    (re.compile(r"^E\s+"), ""),  # pytest's marker of the exception line
    (re.compile(r"0x[0-9a-fA-F]+"), "<hex>"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"(/[\w.-]+)+/"), "/…/"),
    (re.compile(r"\d+(\.\d+)?"), "N"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"),
    (re.compile(r"\s+"), " "),
)


@dataclass(frozen=True)
class Cluster:
    """Tests failing with the same normalized message; `fingerprint` names it everywhere."""

    fingerprint: str
    signature: str
    tests: tuple[ResultRow, ...]

    @property
    def label(self) -> str:
        return f"dtf-fp-{self.fingerprint}"


def signature(message: str) -> str:
    """The normalized failure message: its last line with numbers, ids and paths masked."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    text = lines[-1] if lines else "(no message)"
    for pattern, replacement in _NORMALISERS:
        text = pattern.sub(replacement, text)
    return text.strip()[:300]


def clusters(failures: Iterable[ResultRow]) -> list[Cluster]:
    """Group failing tests by normalized message (and outcome), largest cluster first."""
    groups: dict[str, list[ResultRow]] = defaultdict(list)
    for row in failures:
        groups[f"{row.outcome}: {signature(row.message)}"].append(row)
    found = [Cluster(short_hash(sig), sig, tuple(rows)) for sig, rows in groups.items()]
    return sorted(found, key=lambda c: (-len(c.tests), c.fingerprint))


def label_of_test(test_id: str) -> str:
    """A JIRA-safe label for one test (labels cannot hold spaces or '::')."""
    return f"dtf-test-{short_hash(test_id)}"


def escalation_key(e: Escalation) -> str:
    return short_hash(f"{e.error_class}|{e.hardware}")


def counts_line(run: PublishInput) -> str:
    counts = run.facts.outcome_counts()
    parts = [f"{n} {outcome}" for outcome, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    return ", ".join(parts) or "no results"


def summary_markdown(run: PublishInput, marker: str = "") -> str:
    """A campaign summary for PR comments, MR notes and job summaries."""
    facts = run.facts
    icon = ":white_check_mark:" if run.verdict == "passed" else ":x:"
    lines = [marker] if marker else []
    lines += [
        f"## {icon} dtf campaign `{facts.campaign}`: **{run.verdict}**",
        "",
        f"Run `{facts.run_id}`: {counts_line(run)}.",
    ]
    if facts.baseline_run_id:
        lines.append(f"Compared with baseline run `{facts.baseline_run_id}`.")
    lines += _section(
        "New failures", [f"`{r.test_id}` ({r.outcome})" for r in facts.new_failures()]
    )
    lines += _section("Fixed", [f"`{r.test_id}`" for r in facts.fixed()])
    lines += _section("Flaky", [f"`{r.test_id}`" for r in facts.flaky()])
    lines += _section(
        "Infrastructure escalations",
        [
            f"shard `{e.shard_id}` on {e.hardware or '?'}: {e.error_class}"
            for e in facts.escalations
        ],
    )
    if run.validation is not None and not run.validation.passed:
        lines += _section("Failed expectations", run.validation.reasons())
    lines += ["", *links(run)]
    return "\n".join(lines)


def links(run: PublishInput) -> list[str]:
    out = []
    url = run.facts.run.get("flow_run_url")
    if url:
        out.append(f"[Prefect flow run]({url})")
    if run.validation is not None and run.validation.report:
        out.append(f"Validation report: `{run.validation.report}`")
    return out


def _section(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    shown = [f"- {item}" for item in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        shown.append(f"- … and {len(items) - MAX_LISTED} more")
    return ["", f"### {title} ({len(items)})", *shown]
