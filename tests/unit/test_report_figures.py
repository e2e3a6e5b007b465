"""The report's figure specs are valid plotly figures: plotly's own schema checks each one."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import pytest

from dtf.analysis.performance import PerformanceChange, Series
from dtf.reports import figures

SHARDS = [
    {"shard_id": "unit-0", "suite": "unit", "attempt": 0, "tests": 12, "status": "done",
     "worker": "w0", "started_at": 1000.0, "finished_at": 1012.5, "wall_seconds": 12.5},
    {"shard_id": "gpu-0", "suite": "gpu", "attempt": 1, "tests": 4, "status": "infra_failed",
     "worker": None, "started_at": 1001.0, "finished_at": 1003.0, "wall_seconds": None},
    {"shard_id": "gpu-1", "suite": "gpu", "attempt": 0, "tests": 4, "status": "done",
     "worker": "w1", "started_at": None, "finished_at": None, "wall_seconds": None},
]  # fmt: skip
SERIES = Series("metric", "bench", "bench::latency", "latency", "cuda", "ms",
                tuple(f"r{i}" for i in range(8)), (10.0,) * 4 + (13.0,) * 4)  # fmt: skip
CHANGE = PerformanceChange(
    kind="metric", suite="bench", test_id="bench::latency", name="latency", hardware="cuda",
    unit="ms", run_id="r4", index=4, points=8, before=10.0, after=13.0, relative=0.3,
    confidence=0.99, direction="up", regression=None,
)  # fmt: skip


def _checked(spec: dict[str, Any]) -> go.Figure:
    """plotly's validation of the spec: an unknown property or a bad value raises."""
    return go.Figure(spec)


def test_the_timeline_has_a_bar_trace_per_suite_of_the_shards_that_ran() -> None:
    fig = _checked(figures.timeline(SHARDS))
    assert [t.name for t in fig.data] == ["gpu", "unit"]
    gpu, unit = fig.data
    assert list(gpu.y) == ["(no worker)"] and list(unit.y) == ["w0"]
    assert list(unit.x) == [pytest.approx(12_500.0)]  # milliseconds on a date axis
    assert list(gpu.marker.line.color) == [figures.STATUS_COLORS["infra_failed"]]
    assert fig.layout.xaxis.type == "date"


def test_pass_rates_are_percentages_coloured_by_failures() -> None:
    rows = [{"hardware": "cpu", "pass_rate": 0.5, "tests": 4, "failing": 2},
            {"hardware": "cuda", "pass_rate": None, "tests": 0, "failing": 0}]  # fmt: skip
    bars = _checked(figures.pass_rate_by_hardware(rows)).data[0]
    assert list(bars.y) == [50.0, 0.0] and list(bars.text) == ["50.0%", "0.0%"]
    assert list(bars.marker.color) == ["#c62828", "#2e7d32"]


def test_durations_share_one_set_of_log_bins_across_hardware() -> None:
    rows = [{"hardware": "cpu", "duration": 0.01}, {"hardware": "cpu", "duration": 1.0},
            {"hardware": None, "duration": 0.0}]  # fmt: skip
    fig = _checked(figures.duration_distribution(rows))
    assert [t.name for t in fig.data] == ["-", "cpu"]
    assert fig.data[0].xbins == fig.data[1].xbins
    assert list(fig.data[1].x) == [-2.0, 0.0] and list(fig.data[0].x) == [-6.0]


def test_empty_inputs_still_make_valid_figures() -> None:
    for spec in (figures.timeline([]), figures.pass_rate_by_hardware([]),
                 figures.duration_distribution([])):  # fmt: skip
        _checked(spec)


def test_a_trend_marks_its_change_point_with_a_line_a_label_and_the_two_levels() -> None:
    fig = _checked(figures.trend(SERIES, [CHANGE]))
    assert [s.x0 for s in fig.layout.shapes] == [3.5]
    assert [a.text for a in fig.layout.annotations] == ["+30.0%"]
    line, levels = fig.data
    assert list(line.customdata) == list(SERIES.run_ids)
    assert list(levels.y) == [10.0, 10.0, 13.0, 13.0]
    assert fig.layout.title.text == SERIES.label
