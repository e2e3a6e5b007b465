"""The Prefect UI, in headless Chromium, shows a finished campaign run and its shard task runs."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dtf.server import ServerInfo
from dtf.store.results import ResultStore
from tests.e2e.conftest import DtfCommand

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = Path("/tmp/dtf-prefect-ui-flow-run.png")
PAGE_TIMEOUT_SECONDS = 60

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        "headless Chromium is absent: apt-get install -y chromium chromium-driver",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")


@pytest.fixture(scope="module")
def finished_run(dtf_cli: DtfCommand, prefect_server: ServerInfo) -> dict[str, Any]:
    """A small passing campaign run by `dtf run` on the session's server, as the API has it."""
    # A selection no earlier run made, so a worker collects it in a discovery task (a reused
    # collection is looked up without one).
    unique = f"tokenize and not punct and not no_test_{uuid.uuid4().hex}"
    done = dtf_cli("run", "examples/quickstart/campaign.yaml", "-k", unique)
    assert done.returncode == 0, done.stdout + done.stderr
    store = ResultStore(f"duckdb:///{dtf_cli.home / 'dtf.duckdb'}")
    try:
        run = store.recent_runs(1)[0]
        shards = sorted({r["shard_id"] for r in store.results_of(str(run["run_id"]))})
    finally:
        store.close()
    response = httpx.get(f"{prefect_server.api_url}/flow_runs/{run['flow_run_id']}", timeout=10)
    response.raise_for_status()
    return {**response.json(), "shards": shards}


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not try to download
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--disable-background-networking",
        "--disable-component-update",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_flow_run_page_shows_the_campaign_run_and_its_shard_task_runs(
    browser: Any, finished_run: dict[str, Any], prefect_server: ServerInfo
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    name = finished_run["name"]
    wait = WebDriverWait(browser, PAGE_TIMEOUT_SECONDS)
    browser.get(f"{prefect_server.ui_url}/runs/flow-run/{finished_run['id']}")
    # The page's data comes from the API the UI is configured with: a UI that asks another
    # server (or none) shows "Page not found" here instead of the run.
    wait.until(lambda d: name in d.title)
    assert "Completed" in browser.find_element(By.TAG_NAME, "body").text
    tab = wait.until(lambda d: _tab(d, "Task Runs"))
    tab.click()
    expected = [*finished_run["shards"], "discover-cpu"]
    wait.until(lambda d: all(e in d.find_element(By.TAG_NAME, "body").text for e in expected))
    browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000


def _tab(browser: Any, label: str) -> Any:
    """The flow run page's tab with this label, once the page has drawn it; else None."""
    from selenium.webdriver.common.by import By

    tabs = browser.find_elements(By.CSS_SELECTOR, "li.p-tab")
    return next((t for t in tabs if t.text.strip() == label), None)
