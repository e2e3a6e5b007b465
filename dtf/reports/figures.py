"""Plotly figures for the HTML report, each a pure function of rows the analysis produced."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

from dtf.analysis.performance import PerformanceChange, Series

TEMPLATE = "plotly_white"
STATUS_COLORS = {"done": "#2e7d32", "infra_failed": "#c62828", "skipped": "#9e9e9e",
                 "collect_error": "#ef6c00"}  # fmt: skip


def timeline(shards: Sequence[dict[str, Any]]) -> go.Figure:
    """A Gantt chart: one row per worker, one bar per shard attempt, coloured by suite."""
    by_suite: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for shard in shards:
        if shard.get("started_at") is not None and shard.get("finished_at") is not None:
            by_suite[shard["suite"]].append(shard)
    fig = go.Figure()
    for suite, rows in sorted(by_suite.items()):
        fig.add_trace(_shard_bars(suite, rows))
    fig.update_layout(template=TEMPLATE, barmode="overlay", title="Shards per worker",
                      xaxis={"type": "date", "title": "time"}, yaxis={"title": "worker"},
                      height=max(260, 60 + 40 * len({s["worker"] for s in shards})))  # fmt: skip
    return fig


_SHARD_HOVER = (
    "shard %{customdata[0]} (attempt %{customdata[1]})<br>%{customdata[2]} tests, "
    "%{customdata[3]}, %{customdata[4]:.1f}s<extra>%{fullData.name}</extra>"
)


def _shard_bars(suite: str, rows: list[dict[str, Any]]) -> go.Bar:
    return go.Bar(
        name=suite,
        orientation="h",
        y=[r["worker"] or "(no worker)" for r in rows],
        base=[_iso(r["started_at"]) for r in rows],
        # Bars on a date axis are measured in milliseconds.
        x=[max(1.0, (r["finished_at"] - r["started_at"]) * 1000.0) for r in rows],
        marker_line_color=[STATUS_COLORS.get(r["status"], "#333") for r in rows],
        marker_line_width=2,
        customdata=[
            [r["shard_id"], r["attempt"], r["tests"], r["status"], r["wall_seconds"] or 0.0]
            for r in rows
        ],
        hovertemplate=_SHARD_HOVER,
    )


def pass_rate_by_hardware(rows: Sequence[dict[str, Any]]) -> go.Figure:
    """One bar per hardware class: pass rate, with test and failure counts on hover."""
    fig = go.Figure(
        go.Bar(
            x=[r["hardware"] for r in rows],
            y=[(r["pass_rate"] or 0.0) * 100 for r in rows],
            text=[f"{(r['pass_rate'] or 0.0):.1%}" for r in rows],
            customdata=[[r["tests"], r["failing"]] for r in rows],
            hovertemplate="%{x}: %{y:.1f}% of %{customdata[0]} tests, "
            "%{customdata[1]} failing<extra></extra>",
            marker_color=["#2e7d32" if not r["failing"] else "#c62828" for r in rows],
        )
    )
    fig.update_layout(template=TEMPLATE, title="Pass rate by hardware",
                      yaxis={"title": "pass rate (%)", "range": [0, 105]}, height=320)  # fmt: skip
    return fig


def duration_distribution(durations: Sequence[dict[str, Any]]) -> go.Figure:
    """Histogram of test durations per hardware, on a log scale (tests span many decades)."""
    by_hardware: dict[str, list[float]] = defaultdict(list)
    for row in durations:
        by_hardware[row["hardware"] or "-"].append(math.log10(max(row["duration"], 1e-6)))
    every = [v for values in by_hardware.values() for v in values]
    # One set of bins for every hardware class, so overlaid bars line up.
    low, high = (min(every), max(every)) if every else (0.0, 1.0)
    bins = {"start": low, "end": high + 1e-9, "size": max((high - low) / 40, 0.02)}
    fig = go.Figure()
    for hardware, values in sorted(by_hardware.items()):
        fig.add_trace(go.Histogram(x=values, name=hardware, opacity=0.6, xbins=bins))
    ticks = list(range(-6, 4))
    fig.update_layout(
        template=TEMPLATE, barmode="overlay", title="Test durations", height=320,
        xaxis={"title": "duration (s, log scale)", "tickvals": ticks,
               "ticktext": [f"{10.0 ** t:g}" for t in ticks]},
        yaxis={"title": "tests"},
    )  # fmt: skip
    return fig


def trend(series: Series, changes: Sequence[PerformanceChange]) -> go.Figure:
    """A series over runs, change points marked where the new level starts."""
    x = list(range(len(series.values)))
    fig = go.Figure(
        go.Scatter(
            x=x, y=list(series.values), mode="lines+markers", name=series.name,
            customdata=list(series.run_ids),
            hovertemplate="run %{customdata}<br>%{y:.4g}" + series.unit + "<extra></extra>",
        )
    )  # fmt: skip
    for change in changes:
        color = "#c62828" if change.regression else "#ef6c00"
        fig.add_vline(x=change.index - 0.5, line_dash="dash", line_color=color)
        fig.add_annotation(
            x=change.index, y=change.after, text=f"{change.relative:+.1%}", showarrow=True,
            ax=30, ay=-30, xanchor="left", font={"color": color}, arrowcolor=color,
        )  # fmt: skip
        fig.add_trace(_level(change, len(x)))
    fig.update_layout(template=TEMPLATE, title=series.label, height=300, showlegend=False,
                      xaxis={"title": "run (oldest first)"},
                      yaxis={"title": series.unit or series.name})  # fmt: skip
    return fig


def _level(change: PerformanceChange, n: int) -> go.Scatter:
    """The two segment means around a change point, as a step."""
    return go.Scatter(
        x=[0, change.index - 0.5, change.index - 0.5, n - 1],
        y=[change.before, change.before, change.after, change.after],
        mode="lines", line={"color": "rgba(198,40,40,0.5)", "width": 2},
        hoverinfo="skip", name="levels",
    )  # fmt: skip


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
