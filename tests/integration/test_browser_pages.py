"""Browser pages run by run_browser_shard in real headless Chromium: every way a page ends."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dtf.browser.pool import PoolConfig
from dtf.browser.shard import run_browser_shard
from dtf.browser.spec import BrowserPage
from dtf.execution.outcomes import CaseResult, ShardOutcome
from dtf.hardware.browsers import find_driver
from dtf.spec.models import Limits

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "browser_pages"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or find_driver("chromium") is None,
    reason="Chromium and chromedriver are not installed "
    "(apt-get install -y chromium chromium-driver)",
)
HANG_SECONDS = 3.0
# A small JS heap makes crash.html exhaust it in well under a second.
SMALL_HEAP = "--js-flags=--max-old-space-size=64"
RUN = [
    BrowserPage(path="pass.html"),
    BrowserPage(path="fail.html"),
    BrowserPage(path="throw.html"),
    BrowserPage(path="reject.html"),
    BrowserPage(path="hang.html", timeout=HANG_SECONDS),
    BrowserPage(path="busy.html", timeout=HANG_SECONDS),
    BrowserPage(path="crash.html", timeout=20),
    BrowserPage(path="metrics.html"),
    BrowserPage(path="nothing.html"),
    BrowserPage(path="bad_outcome.html"),
    BrowserPage(path="isolation.html"),
    BrowserPage(path="webgpu_add.html", requires=("webgpu",)),
    BrowserPage(path="pass.html?webnn", requires=("webnn",)),
    BrowserPage(path="pass.html?hw", requires=("webgpu_hw",)),
    BrowserPage(path="missing.html"),
]


@pytest.fixture(scope="module")
def outcome() -> ShardOutcome:
    config = PoolConfig(root=PAGES, size=2, flags=(SMALL_HEAP,))
    return run_browser_shard(RUN, config, Limits(test_timeout=30), shard_id="pages")


def _by_id(outcome: ShardOutcome) -> dict[str, CaseResult]:
    ids = [r.nodeid for r in outcome.results]
    assert len(ids) == len(set(ids)), "every result id is unique"
    return {r.nodeid: r for r in outcome.results}


def test_every_page_gets_its_own_row_in_page_order(outcome: ShardOutcome) -> None:
    page_rows = [r.nodeid for r in outcome.results if "::" not in r.nodeid]
    assert page_rows == [p.path for p in RUN]
    assert outcome.shard_id == "pages"
    assert outcome.hardware == "browser_chromium"


def test_a_passing_page_reports_its_results_metrics_details_and_console(
    outcome: ShardOutcome,
) -> None:
    rows = _by_id(outcome)
    assert rows["pass.html"].outcome == "passed"
    assert rows["pass.html"].message.startswith("2 results: 2 passed")
    assert "[log] pass page ran" in rows["pass.html"].output
    adds = rows["pass.html::adds"]
    assert adds.outcome == "passed"
    assert [(m.name, m.value, m.unit) for m in adds.metrics] == [("sum_ms", 1.5, "ms")]
    concat = rows["pass.html::concatenates"]
    assert concat.message == "ok"
    assert json.loads(concat.output) == {"size": 2}
    assert concat.started_at is not None and concat.finished_at is not None


def test_a_failing_result_fails_its_page(outcome: ShardOutcome) -> None:
    rows = _by_id(outcome)
    assert rows["fail.html::fine"].outcome == "passed"
    assert rows["fail.html::wrong"].outcome == "failed"
    assert rows["fail.html::wrong"].message == "expected 3, got 4"
    assert rows["fail.html"].outcome == "failed"
    assert "first: wrong failed: expected 3, got 4" in rows["fail.html"].message


def test_an_uncaught_error_ends_the_page_as_an_error(outcome: ShardOutcome) -> None:
    rows = _by_id(outcome)
    assert rows["throw.html"].outcome == "error"
    assert "TypeError: boom from the page" in rows["throw.html"].message
    assert "explode" in rows["throw.html"].output  # the stack names the throwing function
    assert rows["throw.html::before"].outcome == "passed"
    assert "throw.html::never" not in rows


def test_an_unhandled_rejection_is_an_error(outcome: ShardOutcome) -> None:
    page = _by_id(outcome)["reject.html"]
    assert page.outcome == "error"
    assert "Unhandled rejection: RangeError: nobody caught me" in page.message


@pytest.mark.parametrize("name", ["hang.html", "busy.html"])
def test_a_page_that_never_finishes_times_out_and_keeps_what_it_reported(
    outcome: ShardOutcome, name: str
) -> None:
    rows = _by_id(outcome)
    page = rows[name]
    assert page.outcome == "timeout"
    assert f"did not call dtf.done() within {HANG_SECONDS:g}s" in page.message
    # busy.html spins its renderer: chromedriver never answers, dtf's own deadline fires.
    assert HANG_SECONDS <= page.duration < HANG_SECONDS + 5
    kept = [r for r in rows.values() if r.nodeid.startswith(f"{name}::")]
    assert [r.outcome for r in kept] == ["passed"]


def test_a_tab_that_crashes_is_crashed_not_an_infrastructure_fault(
    outcome: ShardOutcome,
) -> None:
    rows = _by_id(outcome)
    assert rows["crash.html"].outcome == "crashed"
    assert "tab crashed" in rows["crash.html"].message
    assert rows["crash.html::reported before crashing"].outcome == "passed"


def test_metrics_attach_to_the_next_result_and_trailing_ones_to_the_last(
    outcome: ShardOutcome,
) -> None:
    loop = _by_id(outcome)["metrics.html::loop"]
    names = [(m.name, m.unit) for m in loop.metrics]
    assert names == [("loop_ms", "ms"), ("checksum", ""), ("after_last", "count")]
    by_name = {m.name: m.value for m in loop.metrics}
    assert by_name["checksum"] == 21081693.0  # sum of sqrt(i) for i < 100000, rounded
    assert by_name["loop_ms"] > 0


def test_a_page_that_reports_nothing_is_an_error(outcome: ShardOutcome) -> None:
    page = _by_id(outcome)["nothing.html"]
    assert page.outcome == "error"
    assert "reported no result" in page.message


def test_misuse_of_the_api_is_an_error_that_names_it(outcome: ShardOutcome) -> None:
    rows = _by_id(outcome)
    assert rows["bad_outcome.html::odd"].outcome == "error"
    assert "outcome 'banana'" in rows["bad_outcome.html::odd"].message
    assert rows["bad_outcome.html"].outcome == "error"
    assert "dtf.metric('not_a_number')" in rows["bad_outcome.html"].message


def test_pages_are_cross_origin_isolated_for_wasm_threads(outcome: ShardOutcome) -> None:
    rows = _by_id(outcome)
    assert rows["isolation.html::cross-origin isolated"].outcome == "passed"
    assert rows["isolation.html::shared wasm memory"].outcome == "passed"


def test_webgpu_compute_is_correct_on_the_fallback_adapter_and_says_so(
    outcome: ShardOutcome,
) -> None:
    rows = _by_id(outcome)
    result = rows["webgpu_add.html::adds two arrays"]
    assert result.outcome == "passed", result.message
    assert "webgpu adapter: google swiftshader (fallback)" in result.output
    page = rows["webgpu_add.html"]
    assert page.outcome == "passed"
    assert "swiftshader (fallback)" in page.message
    assert {m.name: m.value for m in page.metrics}["webgpu_fallback_adapter"] == 1.0
    assert '"is_fallback": true' in page.output


def test_a_page_needing_what_the_browser_lacks_is_skipped_with_the_reason(
    outcome: ShardOutcome,
) -> None:
    rows = _by_id(outcome)
    webnn = rows["pass.html?webnn"]
    assert webnn.outcome == "skipped"
    assert "webnn (createContext() failed" in webnn.message
    hardware = rows["pass.html?hw"]
    assert hardware.outcome == "skipped"
    assert "fallback (software) adapter: swiftshader" in hardware.message
    assert not any(r.startswith("pass.html?webnn::") for r in rows)


def test_a_missing_page_file_is_an_error(outcome: ShardOutcome) -> None:
    page = _by_id(outcome)["missing.html"]
    assert page.outcome == "error"
    assert "no page file missing.html" in page.message


def test_browsers_are_restarted_after_crashes_and_timeouts(outcome: ShardOutcome) -> None:
    # Two browsers to begin with; a slot whose browser was retired after hang, busy or crash
    # starts a new one only if it has pages left, so 3 to 5 (exact counts: test_browser_pool).
    assert 3 <= outcome.launches <= 5
