"""Renders a run's results from the store: a rich summary for terminals, markdown for Prefect."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from dtf.store.results import ResultStore
from dtf.verdict import Verdict

OUTCOME_COLUMNS = ("passed", "failed", "error", "timeout", "crashed", "skipped", "xfailed",
                   "xpassed", "flaky")  # fmt: skip
MESSAGE_LINES = 12


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
    for failure in store.failures(run_id):
        header = Text(f"{failure['outcome'].upper()} {failure['test_id']}", style="bold red")
        where = Text(f"  suite {failure['suite']}, worker {failure['worker'] or '-'}, "
                     f"hardware {failure['hardware'] or '-'}", style="dim")  # fmt: skip
        parts += [header, where, Text(_excerpt(failure["message"]))]
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


def summary_markdown(store: ResultStore, run_id: str, verdict: Verdict) -> str:
    """The Prefect artifact: verdict, counts and failures as markdown."""
    lines = [f"# Campaign {run_id}: **{verdict.status}**", ""]
    lines += [f"- {reason}" for reason in verdict.reasons]
    lines += ["", "| suite | hardware | outcome | tests |", "|---|---|---|---|"]
    for row in store.outcome_counts(run_id):
        lines.append(f"| {row['suite']} | {row['hardware']} | {row['outcome']} | {row['n']} |")
    failures = store.failures(run_id)
    if failures:
        lines += [
            "",
            "## Failures",
            "",
            "| test | outcome | worker | message |",
            "|---|---|---|---|",
        ]
        for f in failures[:200]:
            first = (f["message"].strip().splitlines() or [""])[-1][:200].replace("|", "\\|")
            lines.append(f"| `{f['test_id']}` | {f['outcome']} | {f['worker']} | {first} |")
    return "\n".join(lines)


def _excerpt(message: str) -> str:
    lines = message.rstrip().splitlines()
    if len(lines) <= MESSAGE_LINES:
        return "\n".join(lines)
    return "\n".join(["...", *lines[-MESSAGE_LINES:]])
