"""`dtf runs/show/history/flaky/regressions/report` through the real CLI app and store."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from dtf.cli import app
from dtf.errors import StoreError
from dtf.execution.outcomes import CaseResult, Metric, Outcome
from dtf.store.results import ResultStore
from dtf.store.synthetic import record_run

RUNS = 12


@pytest.fixture
def filled(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A store with 12 nightly runs: a flaky test, a break at run 10, a slowdown at run 6."""
    monkeypatch.setenv("DTF_DATABASE_URL", store_url)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns when not on a terminal
    rng = random.Random(3)
    store = ResultStore(store_url)
    for i in range(RUNS):
        outcomes: dict[str, Outcome] = {
            "tests/test_a.py::test_flaky": "failed" if i % 3 == 1 else "passed",
            "tests/test_a.py::test_breaks": "failed" if i >= 10 else "passed",
            "tests/test_b.py::test_steady": "passed",
        }
        cases = [
            CaseResult(t, o, 0.2, message=f"AssertionError: {t} broke" if o == "failed" else "")
            for t, o in outcomes.items()
        ]
        latency = rng.gauss(20.0, 0.2) * (1.5 if i >= 6 else 1.0)
        cases.append(
            CaseResult(
                "tests/test_b.py::test_bench",
                "passed",
                1.0,
                metrics=(Metric("latency", latency, "ms"),),
            )
        )
        record_run(
            store,
            f"nightly-{i:02d}",
            cases,
            campaign="nightly",
            started_at=1_700_000_000.0 + 3600 * i,
        )
    store.close()
    yield store_url


def _ok(args: list[str]) -> Result:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _json(args: list[str]) -> object:
    return json.loads(_ok([*args, "--json"]).output)


def test_runs_lists_newest_first_with_counts(filled: str) -> None:
    rows = _json(["runs", "--limit", "3"])
    assert isinstance(rows, list)
    assert [(r["run_id"], r["tests"], r["failing"]) for r in rows] == [
        ("nightly-11", 4, 1),
        ("nightly-10", 4, 2),
        ("nightly-09", 4, 0),
    ]
    assert "nightly-11" in _ok(["runs"]).output


def test_show_gives_summary_baseline_and_failures(filled: str) -> None:
    shown = _json(["show", "nightly-10"])
    assert isinstance(shown, dict)
    summary, baseline = shown["summary"], shown["baseline"]
    assert (summary["tests"], summary["failing"], summary["pass_rate"]) == (4, 2, 0.5)
    assert baseline["baseline_id"] == "nightly-09"
    assert [r["test_id"] for r in baseline["new_failures"]] == [
        "tests/test_a.py::test_breaks",
        "tests/test_a.py::test_flaky",
    ]
    assert {f["message"] for f in shown["failures"]} == {
        "AssertionError: tests/test_a.py::test_breaks broke",
        "AssertionError: tests/test_a.py::test_flaky broke",
    }
    text = _ok(["show", "latest"]).output
    assert "run nightly-11 (nightly): failed" in text
    assert "Against baseline nightly-10" in text and "still failing" in text
    assert "fixed" in text  # test_flaky passed again in run 11


def test_show_compares_with_a_named_baseline(filled: str) -> None:
    shown = _json(["show", "nightly-11", "--baseline", "nightly-00"])
    assert isinstance(shown, dict) and shown["baseline"]["baseline_id"] == "nightly-00"
    assert [r["test_id"] for r in shown["baseline"]["new_failures"]] == [
        "tests/test_a.py::test_breaks"
    ]


def test_an_unknown_run_is_a_clear_store_error(filled: str) -> None:
    result = CliRunner().invoke(app, ["show", "weekly-1"])
    assert result.exit_code != 0
    assert isinstance(result.exception, StoreError)
    assert "no run 'weekly-1'" in str(result.exception)


def test_history_of_a_test_by_part_of_its_id(filled: str) -> None:
    found = _json(["history", "test_breaks", "--limit", "3"])
    assert isinstance(found, dict) and found["test_id"] == "tests/test_a.py::test_breaks"
    assert [(h["run_id"], h["outcome"]) for h in found["history"]] == [
        ("nightly-11", "failed"),
        ("nightly-10", "failed"),
        ("nightly-09", "passed"),
    ]
    assert "History of tests/test_a.py::test_breaks" in _ok(["history", "test_breaks"]).output


def test_flaky_ranks_the_flipping_test_first(filled: str) -> None:
    ranked = _json(["flaky", "--campaign", "nightly"])
    assert isinstance(ranked, list)
    assert [t["test_id"] for t in ranked] == ["tests/test_a.py::test_flaky"]
    assert ranked[0]["flips"] == 8 and ranked[0]["runs"] == RUNS  # F at runs 1, 4, 7, 10
    assert "tests/test_a.py::test_flaky" in _ok(["flaky"]).output


def test_regressions_finds_the_slowdown_where_it_started(filled: str) -> None:
    report = _json(["regressions", "latest"])
    assert isinstance(report, dict) and report["run_id"] == "nightly-11"
    changes = [(c["test_id"], c["name"], c["run_id"]) for c in report["changes"]]
    assert changes == [("tests/test_b.py::test_bench", "latency", "nightly-06")]
    assert report["changes"][0]["relative"] == pytest.approx(0.5, abs=0.05)
    assert "nightly-06" in _ok(["regressions", "nightly-11"]).output


def test_report_writes_a_self_contained_page(filled: str, tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    result = _ok(["report", "nightly-10", "--html", str(target)])
    assert "report written to" in result.output
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "AssertionError: tests/test_a.py::test_breaks broke" in page
    assert 'id="fig-timeline"' in page and 'id="fig-trend-0"' in page
    # No external resource: plotly.js is inline (about 4.8 MB), no script or style is linked.
    assert "<script src=" not in page and "<link" not in page
    assert len(page) > 4_000_000 and "Plotly.newPlot" in page
