"""Renders results for people: rich tables for terminals, markdown for Prefect artifacts."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from dtf.analysis.baseline import BaselineDiff
from dtf.analysis.flaky import FlakyTest
from dtf.analysis.performance import RegressionReport
from dtf.analysis.summary import CampaignSummary
from dtf.store.results import ResultStore
from dtf.verdict import Verdict

OUTCOME_COLUMNS = ("passed", "failed", "error", "timeout", "crashed", "skipped", "xfailed",
                   "xpassed", "flaky")  # fmt: skip
MESSAGE_LINES = 12
DIFF_ROWS = 50


def counts_table(rows: list[dict[str, Any]]) -> Table:
    """Counts by suite and hardware, one column per outcome that occurred."""
    grid: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for row in rows:
        grid[(row["suite"], row["hardware"] or "-")][row["outcome"]] = int(row["n"])
    present = [o for o in OUTCOME_COLUMNS if any(o in c for c in grid.values())]
    table = Table(title="Results by suite and hardware")
    table.add_column("suite")
    table.add_column("hardware")
    for outcome in present:
        table.add_column(outcome, justify="right")
    table.add_column("total", justify="right")
    for (suite, hardware), counts in sorted(grid.items()):
        cells = [str(counts.get(o, 0)) for o in present]
        table.add_row(suite, hardware, *cells, str(sum(counts.values())))
    return table


def render_summary(store: ResultStore, run_id: str, console: Console) -> None:
    """Print a run's counts, its failing tests with their messages, and where results are."""
    run = store.run(run_id) or {}
    parts: list[Any] = [counts_table(store.outcome_counts(run_id))]
    parts += failure_texts(store.failures(run_id))
    degraded = store.degraded_suites(run_id)
    if degraded:
        suites = ", ".join(f"{suite} ({n})" for suite, n in degraded.items())
        parts.append(Text(f"degraded: ran on fallback hardware: {suites}", style="yellow"))
    parts.append(
        Text(
            f"run {run_id}: verdict {run.get('verdict') or run.get('status')}",
            style="bold green" if run.get("verdict") == "passed" else "bold red",
        )
    )
    parts.append(Text(f"results: {store.location} (run id {run_id})"))
    if run.get("flow_run_url"):
        parts.append(Text(f"Prefect flow run: {run['flow_run_url']}"))
    console.print(Group(*parts), soft_wrap=True)


def failure_texts(failures: Sequence[dict[str, Any]]) -> list[Text]:
    parts: list[Text] = []
    for failure in failures:
        header = Text(f"{failure['outcome'].upper()} {failure['test_id']}", style="bold red")
        where = Text(f"  suite {failure['suite']}, worker {failure['worker'] or '-'}, "
                     f"hardware {failure['hardware'] or '-'}", style="dim")  # fmt: skip
        parts += [header, where, Text(_excerpt(failure["message"]))]
    return parts


def render_show(
    summary: CampaignSummary,
    diff: BaselineDiff,
    failures: Sequence[dict[str, Any]],
    console: Console,
) -> None:
    """`dtf show`: verdict and timing, counts, baseline changes, then failures in full."""
    run = summary.run
    verdict = run.get("verdict") or run.get("status")
    lines = [
        Text(f"run {run['run_id']} ({run['campaign']}): {verdict}",
             style="bold green" if verdict == "passed" else "bold red"),
        Text(f"started {_when(run['started_at'])}, wall {_seconds(summary.wall_seconds)}, "
             f"{summary.tests} tests in {summary.shards} shards, pass rate "
             f"{_percent(summary.pass_rate)}, orchestration share "
             f"{_percent(summary.orchestration_share)}"),
    ]  # fmt: skip
    console.print(Group(*lines, counts_table(summary.counts), diff_table(diff),
                        *failure_texts(failures)), soft_wrap=True)  # fmt: skip


def diff_table(diff: BaselineDiff) -> Table | Text:
    if diff.baseline_id is None:
        return Text("no baseline: this is the first completed run of its campaign and matrix")
    table = Table(title=f"Against baseline {diff.baseline_id} ({diff.unchanged} unchanged)")
    for column in ("change", "test", "now", "baseline"):
        table.add_column(column)
    sections = (("new failure", diff.new_failures, "red"), ("still failing", diff.still_failing,
                "yellow"), ("fixed", diff.fixed, "green"), ("new test", diff.new_tests, "cyan"),
                ("removed", diff.removed_tests, "dim"))  # fmt: skip
    for label, rows, style in sections:
        for row in rows[:DIFF_ROWS]:
            table.add_row(Text(label, style=style), row["test_id"], row["outcome"] or "-",
                          row["baseline_outcome"] or "-")  # fmt: skip
        if len(rows) > DIFF_ROWS:
            table.add_row(Text(label, style=style), f"... and {len(rows) - DIFF_ROWS} more", "", "")
    return table


def history_table(test_id: str, rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(title=f"History of {test_id}")
    for column in ("started", "run", "attempt", "outcome", "duration", "hardware", "worker",
                   "message"):  # fmt: skip
        table.add_column(column, justify="right" if column == "duration" else "left")
    for row in rows:
        first = (row["message"] or "").strip().splitlines()
        table.add_row(_when(row["started_at"]), row["run_id"], str(row["attempt"]),
                      _styled_outcome(row["outcome"]), f"{row['duration']:.3f}s",
                      row["hardware"] or "-", row["worker"] or "-",
                      first[-1][:80] if first else "")  # fmt: skip
    return table


def flaky_table(tests: Sequence[FlakyTest], window: int) -> Table:
    table = Table(title=f"Flaky tests over the last {window} runs")
    for column in ("test", "suite", "flakiness", "flip rate", "pass on rerun", "runs", "failures"):
        table.add_column(column, justify="left" if column in ("test", "suite") else "right")
    for t in tests:
        rerun = f"{t.passed_on_rerun}/{t.reruns}" if t.reruns else "-"
        table.add_row(t.test_id, t.suite, f"{t.flakiness:.2f}", f"{t.flip_rate:.2f}", rerun,
                      str(t.runs), str(t.failures))  # fmt: skip
    return table


def regressions_table(report: RegressionReport) -> Table:
    table = Table(
        title=f"Performance changes in {len(report.window)} runs up to {report.run_id} "
        f"({report.series_checked} series checked)"
    )
    for column in ("from run", "series", "hardware", "before", "after", "change", "confidence"):
        table.add_column(column, justify="right" if column in ("before", "after") else "left")
    for c in report.changes:
        what = f"{c.test_id} {c.name}" if c.kind == "metric" else f"{c.test_id} (duration)"
        style = "red" if c.regression else "green" if c.regression is False else "yellow"
        table.add_row(c.run_id, what, c.hardware or "-", f"{c.before:.4g}{c.unit}",
                      f"{c.after:.4g}{c.unit}", Text(f"{c.relative:+.1%}", style=style),
                      f"{c.confidence:.3f}")  # fmt: skip
    return table


def summary_markdown(
    store: ResultStore, run_id: str, verdict: Verdict, report_link: str | None = None
) -> str:
    """The Prefect artifact: verdict, counts, failures and a link to the HTML report."""
    lines = [f"# Campaign {run_id}: **{verdict.status}**", ""]
    lines += [f"- {reason}" for reason in verdict.reasons]
    if report_link:
        lines += ["", f"[HTML report]({report_link})"]
    lines += ["", "| suite | hardware | outcome | tests |", "|---|---|---|---|"]
    for row in store.outcome_counts(run_id):
        lines.append(f"| {row['suite']} | {row['hardware']} | {row['outcome']} | {row['n']} |")
    failures = store.failures(run_id)
    if failures:
        lines += ["", "## Failures", "", *failures_markdown(failures).splitlines()]
    return "\n".join(lines)


def failures_markdown(failures: Sequence[dict[str, Any]], limit: int = 200) -> str:
    """A markdown table of failing tests with the last line of each message."""
    lines = ["| test | outcome | worker | message |", "|---|---|---|---|"]
    for f in failures[:limit]:
        first = (f["message"].strip().splitlines() or [""])[-1][:200].replace("|", "\\|")
        lines.append(f"| `{f['test_id']}` | {f['outcome']} | {f['worker']} | {first} |")
    return "\n".join(lines)


def _styled_outcome(outcome: str) -> Text:
    style = {"passed": "green", "flaky": "yellow", "skipped": "dim"}.get(outcome, "red")
    return Text(outcome, style=style)


def _when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


def _seconds(value: float | None) -> str:
    return f"{value:.1f}s" if value is not None else "-"


def _percent(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"


def _excerpt(message: str) -> str:
    lines = message.rstrip().splitlines()
    if len(lines) <= MESSAGE_LINES:
        return "\n".join(lines)
    return "\n".join(["...", *lines[-MESSAGE_LINES:]])
