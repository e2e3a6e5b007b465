"""Plotly figures for the HTML report, each a pure function of rows the analysis produced.

Each is a plain plotly.js figure spec ({"data": [...], "layout": {...}}), not a
plotly.graph_objects Figure: building and validating those took most of a report's time
(0.1-0.2 s a run). tests/unit/test_report_figures.py validates every spec with plotly's own
graph objects, and tests/integration/test_report_html.py draws them in Chromium.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from dtf.analysis.performance import PerformanceChange, Series

Figure = dict[str, Any]

STATUS_COLORS = {"done": "#2e7d32", "infra_failed": "#c62828", "skipped": "#9e9e9e",
                 "collect_error": "#ef6c00"}  # fmt: skip


def figure(data: list[dict[str, Any]], **layout: Any) -> Figure:
    """A figure spec; its layout takes the report's template when the page is drawn."""
    return {"data": data, "layout": layout}


def timeline(shards: Sequence[dict[str, Any]]) -> Figure:
    """A Gantt chart: one row per worker, one bar per shard attempt, coloured by suite."""
    by_suite: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for shard in shards:
        if shard.get("started_at") is not None and shard.get("finished_at") is not None:
            by_suite[shard["suite"]].append(shard)
    return figure(
        [_shard_bars(suite, rows) for suite, rows in sorted(by_suite.items())],
        barmode="overlay", title={"text": "Shards per worker"},
        xaxis={"type": "date", "title": {"text": "time"}}, yaxis={"title": {"text": "worker"}},
        height=max(260, 60 + 40 * len({s["worker"] for s in shards})),
    )  # fmt: skip


_SHARD_HOVER = (
    "shard %{customdata[0]} (attempt %{customdata[1]})<br>%{customdata[2]} tests, "
    "%{customdata[3]}, %{customdata[4]:.1f}s<extra>%{fullData.name}</extra>"
)


def _shard_bars(suite: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "bar",
        "name": suite,
        "orientation": "h",
        "y": [r["worker"] or "(no worker)" for r in rows],
        "base": [_iso(r["started_at"]) for r in rows],
        # Bars on a date axis are measured in milliseconds.
        "x": [max(1.0, (r["finished_at"] - r["started_at"]) * 1000.0) for r in rows],
        "marker": {
            "line": {"color": [STATUS_COLORS.get(r["status"], "#333") for r in rows], "width": 2}
        },
        "customdata": [
            [r["shard_id"], r["attempt"], r["tests"], r["status"], r["wall_seconds"] or 0.0]
            for r in rows
        ],
        "hovertemplate": _SHARD_HOVER,
    }


def pass_rate_by_hardware(rows: Sequence[dict[str, Any]]) -> Figure:
    """One bar per hardware class: pass rate, with test and failure counts on hover."""
    bars = {
        "type": "bar",
        "x": [r["hardware"] for r in rows],
        "y": [(r["pass_rate"] or 0.0) * 100 for r in rows],
        "text": [f"{(r['pass_rate'] or 0.0):.1%}" for r in rows],
        "customdata": [[r["tests"], r["failing"]] for r in rows],
        "hovertemplate": "%{x}: %{y:.1f}% of %{customdata[0]} tests, "
        "%{customdata[1]} failing<extra></extra>",
        "marker": {"color": ["#2e7d32" if not r["failing"] else "#c62828" for r in rows]},
    }
    return figure([bars], title={"text": "Pass rate by hardware"}, height=320,
                  yaxis={"title": {"text": "pass rate (%)"}, "range": [0, 105]})  # fmt: skip


def duration_distribution(durations: Sequence[dict[str, Any]]) -> Figure:
    """Histogram of test durations per hardware, on a log scale (tests span many decades)."""
    by_hardware: dict[str, list[float]] = defaultdict(list)
    for row in durations:
        by_hardware[row["hardware"] or "-"].append(math.log10(max(row["duration"], 1e-6)))
    every = [v for values in by_hardware.values() for v in values]
    # One set of bins for every hardware class, so overlaid bars line up.
    low, high = (min(every), max(every)) if every else (0.0, 1.0)
    bins = {"start": low, "end": high + 1e-9, "size": max((high - low) / 40, 0.02)}
    histograms = [
        {"type": "histogram", "x": values, "name": hardware, "opacity": 0.6, "xbins": bins}
        for hardware, values in sorted(by_hardware.items())
    ]
    ticks = list(range(-6, 4))
    return figure(
        histograms, barmode="overlay", title={"text": "Test durations"}, height=320,
        xaxis={"title": {"text": "duration (s, log scale)"}, "tickvals": ticks,
               "ticktext": [f"{10.0 ** t:g}" for t in ticks]},
        yaxis={"title": {"text": "tests"}},
    )  # fmt: skip


def trend(series: Series, changes: Sequence[PerformanceChange]) -> Figure:
    """A series over runs, change points marked where the new level starts."""
    x = list(range(len(series.values)))
    line = {
        "type": "scatter", "x": x, "y": list(series.values), "mode": "lines+markers",
        "name": series.name, "customdata": list(series.run_ids),
        "hovertemplate": "run %{customdata}<br>%{y:.4g}" + series.unit + "<extra></extra>",
    }  # fmt: skip
    shapes, annotations = [], []
    for change in changes:
        color = "#c62828" if change.regression else "#ef6c00"
        edge = change.index - 0.5
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": edge, "x1": edge,
                       "y0": 0, "y1": 1, "line": {"dash": "dash", "color": color}})  # fmt: skip
        annotations.append({
            "x": change.index, "y": change.after, "text": f"{change.relative:+.1%}",
            "showarrow": True, "ax": 30, "ay": -30, "xanchor": "left",
            "font": {"color": color}, "arrowcolor": color,
        })  # fmt: skip
    return figure(
        [line, *(_level(c, len(x)) for c in changes)],
        title={"text": series.label}, height=300, showlegend=False, shapes=shapes,
        annotations=annotations, xaxis={"title": {"text": "run (oldest first)"}},
        yaxis={"title": {"text": series.unit or series.name}},
    )  # fmt: skip


def _level(change: PerformanceChange, n: int) -> dict[str, Any]:
    """The two segment means around a change point, as a step."""
    return {
        "type": "scatter",
        "x": [0, change.index - 0.5, change.index - 0.5, n - 1],
        "y": [change.before, change.before, change.after, change.after],
        "mode": "lines", "line": {"color": "rgba(198,40,40,0.5)", "width": 2},
        "hoverinfo": "skip", "name": "levels",
    }  # fmt: skip


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
