"""The HTML report's static parts: style, summary cards, tables; all text escaped."""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from typing import Any

from dtf.analysis.baseline import BaselineDiff
from dtf.analysis.flaky import FlakyTest
from dtf.analysis.summary import CampaignSummary

# The first failures show their messages straight away; the rest open on a click.
OPEN_FAILURES = 10

CSS = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 10px 16px; min-width: 120px; }
.card .value { font-size: 1.5em; font-weight: 600; } .card .label { color: #666; }
.verdict-passed { color: #2e7d32; } .verdict-failed { color: #c62828; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; } .empty { color: #666; font-style: italic; }
details { margin: 4px 0; } summary { cursor: pointer; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; max-height: 320px; }
.trend { display: inline-block; width: 49%; min-width: 420px; vertical-align: top; }
footer { color: #888; margin-top: 32px; font-size: 0.8em; }
"""


def summary_section(s: CampaignSummary) -> str:
    run = s.run
    verdict = str(run.get("verdict") or run.get("status") or "-")
    cards = [
        ("verdict", f'<span class="verdict-{_e(verdict)}">{_e(verdict)}</span>'),
        ("tests", str(s.tests)),
        ("failing", str(s.failing)),
        ("pass rate", _pct(s.pass_rate)),
        ("wall time", f"{s.wall_seconds:.1f}s" if s.wall_seconds is not None else "-"),
        ("shards", str(s.shards)),
        ("orchestration share", _pct(s.orchestration_share)),
    ]
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["started_at"]))
    card_html = "".join(
        f'<div class="card"><div class="value">{value}</div><div class="label">{_e(label)}'
        "</div></div>"
        for label, value in cards
    )
    counts = _table(
        ["suite", "hardware", "outcome", "tests"],
        [[r["suite"], r["hardware"] or "-", r["outcome"], r["n"]] for r in s.counts],
    )
    slow = _table(
        ["test", "suite", "hardware", "outcome", "duration (s)"],
        [[r["test_id"], r["suite"], r["hardware"] or "-", r["outcome"], f"{r['duration']:.3f}"]
         for r in s.slowest],
    )  # fmt: skip
    link = run.get("flow_run_url")
    flow = f' &middot; <a href="{_e(link)}">Prefect flow run</a>' if link else ""
    return (
        f'<section id="summary"><h2>Summary</h2><p>campaign <b>{_e(run["campaign"])}</b>, '
        f'started {started}{flow}</p><div class="cards">{card_html}</div>'
        f"<h3>Counts</h3>{counts}<h3>Slowest tests</h3>{slow}</section>"
    )


def diff_section(d: BaselineDiff) -> str:
    if d.baseline_id is None:
        return ('<section id="baseline"><h2>Against the baseline</h2><p class="empty">No '
                "earlier completed run of this campaign and matrix.</p></section>")  # fmt: skip
    groups = (
        ("new failures", d.new_failures),
        ("still failing", d.still_failing),
        ("fixed", d.fixed),
        ("new tests", d.new_tests),
        ("removed tests", d.removed_tests),
    )
    rows = [[label, r["test_id"], r["outcome"] or "-", r["baseline_outcome"] or "-"]
            for label, items in groups for r in items[:100]]  # fmt: skip
    counts = ", ".join(f"{len(items)} {label}" for label, items in groups)
    return (
        f'<section id="baseline"><h2>Against baseline {_e(d.baseline_id)}</h2>'
        f"<p>{_e(counts)}; {d.unchanged} unchanged</p>"
        f"{_table(['change', 'test', 'now', 'baseline'], rows)}</section>"
    )


def failures_section(failures: Sequence[dict[str, Any]]) -> str:
    if not failures:
        return '<section id="failures"><h2>Failures</h2><p class="empty">None.</p></section>'
    items = "".join(
        f'<details class="failure"{" open" if i < OPEN_FAILURES else ""}><summary>'
        f"<b>{_e(f['outcome'].upper())}</b> "
        f"<code>{_e(f['test_id'])}</code> &middot; {_e(f['worker'] or '-')} "
        f"({_e(f['hardware'] or '-')})</summary><pre>{_e(f['message'])}</pre></details>"
        for i, f in enumerate(failures)
    )
    return f'<section id="failures"><h2>Failures ({len(failures)})</h2>{items}</section>'


def flaky_section(tests: Sequence[FlakyTest], window: int) -> str:
    if not tests:
        body = f'<p class="empty">No flaky tests in the last {window} runs.</p>'
    else:
        body = _table(
            ["test", "suite", "flakiness", "flip rate", "passed on rerun", "runs", "failures"],
            [[t.test_id, t.suite, f"{t.flakiness:.2f}", f"{t.flip_rate:.2f}",
              f"{t.passed_on_rerun}/{t.reruns}" if t.reruns else "-", t.runs, t.failures]
             for t in tests],
        )  # fmt: skip
    return f'<section id="flaky"><h2>Flaky tests</h2>{body}</section>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return '<p class="empty">None.</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    numeric = isinstance(value, int | float)
    return f'<td class="num">{value}</td>' if numeric else f"<td>{_e(str(value))}</td>"


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
