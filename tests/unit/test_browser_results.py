"""How a page's reported events become CaseResults: page rows, results, metrics, adapters."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from dtf.browser.results import PageRun, adapter_text, page_results
from dtf.browser.sharding import CombineError, combine_rows, details_of, max_abs_diff, split_page
from dtf.browser.spec import BrowserPage
from dtf.execution.outcomes import CaseResult


def _result(name: str, outcome: str, t: float, **details: Any) -> dict[str, Any]:
    return {"kind": "result", "name": name, "outcome": outcome, "t": t, "details": details}


def _metric(name: str, value: Any, unit: str = "") -> dict[str, Any]:
    return {"kind": "metric", "name": name, "value": value, "unit": unit}


def _run(status: str = "done", *events: dict[str, Any], reason: str = "") -> PageRun:
    return PageRun("p.html", status, events, 100.0, 104.0, reason)  # type: ignore[arg-type]


def test_results_are_named_after_their_page_and_timed_from_the_previous_report() -> None:
    rows = page_results(_run("done", _result("a", "passed", 101.0), _result("b", "skipped", 101.5)))
    assert [(r.nodeid, r.outcome) for r in rows] == [
        ("p.html", "passed"), ("p.html::a", "passed"), ("p.html::b", "skipped"),
    ]  # fmt: skip
    assert rows[0].duration == 4.0
    assert rows[0].message == "2 results: 1 passed, 1 skipped"
    assert (rows[1].duration, rows[2].duration) == (1.0, 0.5)
    assert (rows[2].started_at, rows[2].finished_at) == (101.0, 101.5)


def test_a_metric_belongs_to_the_next_result_and_trailing_ones_to_the_last() -> None:
    rows = page_results(_run(
        "done", _metric("m1", 1, "ms"), _result("a", "passed", 101), _metric("m2", 2),
        _result("b", "passed", 102), _metric("m3", 3.5, "MB"),
    ))  # fmt: skip
    assert [m.name for m in rows[1].metrics] == ["m1"]
    assert [(m.name, m.value, m.unit) for m in rows[2].metrics] == [("m2", 2.0, ""),
                                                                    ("m3", 3.5, "MB")]  # fmt: skip


def test_metrics_without_any_result_stay_on_the_page_row() -> None:
    rows = page_results(_run("timeout", _metric("m", 1), reason="too slow"))
    assert [(r.nodeid, r.outcome) for r in rows] == [("p.html", "timeout")]
    assert rows[0].message == "too slow"
    assert [m.name for m in rows[0].metrics] == ["m"]


@pytest.mark.parametrize("value", [None, "abc", math.nan, math.inf, True])
def test_a_metric_that_is_not_a_finite_number_makes_the_page_an_error(value: Any) -> None:
    rows = page_results(_run("done", _metric("bad", value), _result("a", "passed", 101)))
    assert rows[0].outcome == "error"
    assert "dtf.metric('bad')" in rows[0].message
    assert rows[1].metrics == ()


def test_details_land_in_the_output_and_the_message_in_the_message() -> None:
    rows = page_results(_run("done", _result("a", "failed", 101, message="off by 1", got=4)))
    assert rows[1].message == "off by 1"
    assert json.loads(rows[1].output) == {"got": 4}
    assert rows[0].outcome == "failed"
    assert rows[0].message == "1 result: 1 failed; first: a failed: off by 1"


def test_an_unknown_outcome_is_an_error_naming_the_choices() -> None:
    rows = page_results(_run("done", _result("a", "green", 101)))
    assert rows[1].outcome == "error"
    assert rows[1].message.startswith("dtf.result('a') reported outcome 'green'")
    assert rows[0].outcome == "failed"


def test_a_result_reported_twice_is_an_error_of_the_page() -> None:
    rows = page_results(_run("done", _result("a", "passed", 101), _result("a", "passed", 102)))
    assert rows[0].outcome == "error"
    assert "'a' was reported more than once" in rows[0].message


def test_a_page_reporting_nothing_is_an_error_and_all_skipped_is_skipped() -> None:
    assert page_results(_run("done"))[0].outcome == "error"
    skipped = page_results(_run("done", _result("a", "skipped", 101, message="no GPU")))
    assert skipped[0].outcome == "skipped"


@pytest.mark.parametrize("status", ["timeout", "crashed", "error"])
def test_a_page_that_did_not_finish_keeps_what_it_reported(status: str) -> None:
    rows = page_results(_run(status, _result("a", "passed", 101), reason="why"))
    assert [(r.nodeid, r.outcome) for r in rows] == [("p.html", status), ("p.html::a", "passed")]
    assert rows[0].message == "why; 1 result: 1 passed"


def test_an_uncaught_error_wins_over_passing_results_and_keeps_its_stack() -> None:
    error = {"kind": "error", "message": "Uncaught TypeError: x", "source": "p.html", "line": 3,
             "stack": "TypeError: x\n    at f (p.html:3:9)"}  # fmt: skip
    rows = page_results(_run("done", _result("a", "passed", 101), error))
    assert rows[0].outcome == "error"
    assert rows[0].message == "Uncaught TypeError: x (p.html:3); 1 result: 1 passed"
    assert "at f (p.html:3:9)" in rows[0].output


def test_the_webgpu_adapter_is_named_in_messages_outputs_and_a_metric() -> None:
    adapter = {"kind": "adapter", "vendor": "google", "architecture": "swiftshader",
               "description": "", "is_fallback": True}  # fmt: skip
    rows = page_results(_run("done", adapter, _result("a", "passed", 101, n=1)))
    assert rows[0].message == "1 result: 1 passed; webgpu adapter: google swiftshader (fallback)"
    assert [(m.name, m.value) for m in rows[0].metrics] == [("webgpu_fallback_adapter", 1.0)]
    assert rows[1].output.splitlines() == ["webgpu adapter: google swiftshader (fallback)",
                                           '{"n": 1}']  # fmt: skip
    assert details_of(rows[1]) == {"n": 1}
    assert adapter_text({"vendor": "nvidia", "is_fallback": False}) == (
        "webgpu adapter: nvidia (hardware)"
    )


def test_console_lines_go_to_the_page_output_within_the_limit() -> None:
    logs = [{"kind": "log", "level": "warn", "text": "x" * 100} for _ in range(50)]
    rows = page_results(_run("done", *logs, _result("a", "passed", 101)), output_limit=1000)
    assert rows[0].output.startswith("console:\n[warn] xxx")
    assert len(rows[0].output) <= 1000
    assert rows[0].output.endswith("[... truncated]")


def test_a_skipped_page_is_one_row_with_its_reason() -> None:
    rows = page_results(PageRun("p.html", "skipped", reason="lacks webnn"))
    assert [(r.nodeid, r.outcome, r.message) for r in rows] == [("p.html", "skipped",
                                                                 "lacks webnn")]  # fmt: skip


def _part(page: str, start: int, rows: list[list[float]]) -> CaseResult:
    details = {"start": start, "end": start + len(rows), "outputs": rows}
    return CaseResult(f"{page}::agreement", "passed", output=json.dumps(details))


def test_split_pages_carry_their_part_in_the_query() -> None:
    parts = split_page(BrowserPage(path="m.html?ep=wasm", timeout=5), 3)
    assert [p.path for p in parts] == ["m.html?ep=wasm&shard=0/3", "m.html?ep=wasm&shard=1/3",
                                       "m.html?ep=wasm&shard=2/3"]  # fmt: skip
    assert {p.timeout for p in parts} == {5}
    assert [p.path for p in split_page(BrowserPage(path="m.html"), 1)] == ["m.html?shard=0/1"]


def test_parts_combine_in_row_order_whatever_order_they_finished_in() -> None:
    rows = combine_rows([_part("b", 2, [[3.0]]), _part("a", 0, [[1.0], [2.0]]),
                         CaseResult("a::latency", "passed")], "agreement")  # fmt: skip
    assert rows == [[1.0], [2.0], [3.0]]
    assert max_abs_diff(rows, [[1.0], [2.5], [3.0]]) == 0.5
    assert max_abs_diff(rows, [[1.0], [2.0]]) == math.inf


def test_parts_with_a_gap_or_no_rows_do_not_combine() -> None:
    with pytest.raises(CombineError, match="cover rows up to 1, then one starts at 2"):
        combine_rows([_part("a", 0, [[1.0]]), _part("b", 2, [[3.0]])], "agreement")
    with pytest.raises(CombineError, match="reported no rows"):
        combine_rows([CaseResult("a::agreement", "error", message="boom")], "agreement")
