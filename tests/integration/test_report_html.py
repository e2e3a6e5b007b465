"""The HTML report opened in real headless Chromium: no JS errors, charts and tables present."""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtf.execution.outcomes import CaseResult, Metric, Outcome, ShardOutcome
from dtf.reports.html import write_report
from dtf.store.results import ResultStore, ShardRecord

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOT = Path("/tmp/dtf-report.png")
RUNS = 20
WORKERS = {"cpu": ["cpu-worker-0", "cpu-worker-1"], "cuda": ["gpu-worker-0"]}

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason=f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install -y chromium chromium-driver)",
)


def _run(store: ResultStore, index: int, rng: random.Random) -> None:
    """One nightly run: 3 suites over 3 workers, a flaky test, a metric that jumps at run 12."""
    run_id, start = f"nightly-{index:02d}", 1_750_000_000.0 + 86_400 * index
    store.start_run(run_id, "nightly", source="git", parameters={}, started_at=start)
    clock = {w: start + 5.0 for ws in WORKERS.values() for w in ws}
    for n in range(6):
        hardware = "cuda" if n % 3 == 2 else "cpu"
        suite = "gpu" if hardware == "cuda" else ("unit" if n % 2 else "integration")
        worker = WORKERS[hardware][n % len(WORKERS[hardware])]
        cases = [_case(suite, n, k, index, rng) for k in range(12)]
        wall = sum(c.duration for c in cases) + rng.uniform(1.0, 3.0)
        clock[worker] += wall + 0.5
        record = ShardRecord(
            run_id,
            f"{suite}-{n}",
            suite,
            0,
            {hardware: 1},
            len(cases),
            wall,
            finished_at=clock[worker],
        )
        store.write_shard(record, ShardOutcome(f"{suite}-{n}", cases, 1, wall, worker, hardware))
    store.update_run(
        run_id, status="completed", verdict="failed", finished_at=max(clock.values()) + 2.0
    )


def _case(suite: str, shard: int, k: int, run: int, rng: random.Random) -> CaseResult:
    test_id = f"tests/{suite}/test_mod{shard}.py::test_case_{k}"
    outcome: Outcome = "passed"
    if shard == 1 and k == 3 and rng.random() < 0.4:
        outcome = "failed"  # the flaky one
    if shard == 0 and k == 7 and run >= RUNS - 2:
        outcome = "error"  # broke two runs ago
    message = (
        ""
        if outcome == "passed"
        else (
            f'Traceback (most recent call last):\n  File "{test_id.split("::")[0]}", line 42\n'
            f"AssertionError: expected 3 == 4 <script>alert('not run')</script>"
        )
    )
    metrics: tuple[Metric, ...] = ()
    if suite == "gpu" and k == 0:
        latency = rng.gauss(12.0, 0.25) * (1.3 if run >= 12 else 1.0)
        metrics = (Metric("latency", latency, "ms"), Metric("throughput", rng.gauss(900, 20)))
    duration = rng.lognormvariate(-1.5, 1.2)
    return CaseResult(test_id, outcome, duration, message=message, metrics=metrics)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    store = ResultStore(f"duckdb:///{tmp_path / 'report.duckdb'}")
    rng = random.Random(12)
    for index in range(RUNS):
        _run(store, index, rng)
    try:
        return write_report(store, f"nightly-{RUNS - 1:02d}", tmp_path / "report.html")
    finally:
        store.close()


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--window-size=1400,6000",
        # Any network request fails: the page must render from the file alone.
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait_for(driver: Any, script: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {script}")


def test_the_report_renders_in_chromium_without_errors(report: Path, browser: Any) -> None:
    browser.get(report.as_uri())
    # timeline, pass rate, durations, and a trend per metric series (2 on the GPU)
    charts = "document.querySelectorAll('.plotly-graph-div .main-svg').length"
    _wait_for(browser, f"return {charts} >= 5 && document.querySelector('#fig-trend-1 .main-svg')")
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe

    q = browser.execute_script
    assert q("return document.title") == f"dtf run nightly-{RUNS - 1:02d}"
    assert q("return document.querySelectorAll('#summary .card').length") == 7
    assert "failed" in q("return document.querySelector('#summary .cards').innerText")
    # Failures with their messages; the message's markup is shown as text, never run.
    failures = q("return [...document.querySelectorAll('#failures details')].map(d => d.innerText)")
    assert any("test_mod0.py::test_case_7" in f for f in failures)
    assert (
        q("return document.querySelector('#failures pre').textContent").count(
            "<script>alert('not run')</script>"
        )
        == 1
    )
    # The Gantt chart: one bar per shard, on three worker rows.
    bars = q("return document.querySelectorAll('#fig-timeline .bars path').length")
    assert bars == 6
    rows = q(
        "return [...document.querySelectorAll('#fig-timeline .ytick text')]"
        ".map(t => t.textContent).sort()"
    )
    assert rows == ["cpu-worker-0", "cpu-worker-1", "gpu-worker-0"]
    assert q("return document.querySelectorAll('#fig-pass-rate .bars path').length") == 2
    assert q("return document.querySelectorAll('#fig-durations .bars path').length") > 5
    # The latency trend comes first, with its change point marked where run 12 begins.
    title = q("return document.querySelector('#fig-trend-0 .gtitle').textContent")
    assert "latency" in title and "cuda" in title
    jump = q("return document.querySelector('#fig-trend-0 .annotation').textContent")
    assert 20 <= float(jump.strip("+%")) <= 40, jump  # planted: +30%
    flaky = q("return document.querySelector('#flaky table tbody tr td').textContent")
    assert flaky == "tests/unit/test_mod1.py::test_case_3"
    assert q("return document.querySelector('#baseline').innerText").count("new failures") == 1

    browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 50_000
    shutil.copy(report, SCREENSHOT.with_suffix(".html"))  # kept for a person to open
