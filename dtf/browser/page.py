"""Runs one page in one browser: a fresh tab, cleared storage, the API, and a deadline."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from dtf.browser.instance import BrowserInstance
from dtf.browser.jsapi import BLANK_PATH, WAIT_SCRIPT, api_source
from dtf.browser.results import PageRun, PageStatus
from dtf.browser.server import PageServer
from dtf.browser.spec import BrowserPage
from dtf.hardware.webprobe import PROBE_JS

# chromedriver's words for a renderer that died under the page (measured: "tab crashed").
CRASH_WORDS = ("tab crashed", "page crash", "renderer crashed")
# How long the probe script may take (requesting an adapter on SwiftShader is slow-ish).
PROBE_SECONDS = 30.0
# Selenium's HTTP client gives up on chromedriver after 120 s, so no single command may
# wait longer: a page's wait for dtf.done() is cut into slices, and its load is capped.
WAIT_SLICE_SECONDS = 60.0
MAX_LOAD_SECONDS = 100.0
# Past the page's deadline, how long chromedriver gets to report its own timeout before
# dtf stops waiting for it (a renderer spinning in a loop never lets it answer).
DEADLINE_GRACE_SECONDS = 1.0
# Events a page sent just before it ended may still be in flight to the server.
SETTLE_SECONDS = 0.2


class BrowserLostError(Exception):
    """The browser or its driver stopped answering: an infrastructure fault, not the page's."""

    def __init__(self, message: str, run: PageRun | None = None) -> None:
        super().__init__(message)
        self.run = run


class _Call(threading.Thread):
    """A driver call that may block past any deadline; the caller waits only so long."""

    def __init__(self, instance: BrowserInstance, url: str, deadline: float) -> None:
        super().__init__(name="dtf-page-call", daemon=True)
        self.instance, self.url, self.deadline = instance, url, deadline
        self.events: Any = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            driver = self.instance.driver
            driver.set_page_load_timeout(_left(self.deadline, MAX_LOAD_SECONDS))
            driver.get(self.url)
            self.events = _wait_done(self.instance, self.deadline)
        except Exception as exc:  # handed to the waiting thread, which decides
            self.error = exc


def run_page(
    instance: BrowserInstance, server: PageServer, page: BrowserPage, timeout: float
) -> PageRun:
    """Run `page` in a fresh tab of `instance` until it calls done, errs, crashes or times out.

    Raises BrowserLostError when the browser itself went away; other endings are PageRuns.
    After a timeout or a crash the caller must retire the browser: it may be wedged.
    """
    if not (server.root / page.file).is_file():
        now = time.time()
        return PageRun(page.path, "error", (), now, now, f"no page file {page.file}")
    token = uuid.uuid4().hex
    pid = instance.browser_pid
    instance.pages += 1
    try:
        _fresh_tab(instance, server, token)
    except Exception as exc:
        return _Ending(server, token, page, time.time(), pid).lost(exc)
    # The page's clock starts once its tab is ready: setting the tab up is dtf's time.
    started = time.time()
    ending = _Ending(server, token, page, started, pid)
    call = _Call(instance, server.url(page.path), started + timeout)
    call.start()
    call.join(max(0.0, started + timeout - time.time()) + DEADLINE_GRACE_SECONDS)
    if call.is_alive():
        return ending.partial("timeout", _timeout_text(timeout))
    if call.error is not None:
        return ending.from_error(call.error, timeout)
    server.sink.take(token)  # the page's own list is complete; drop the streamed copy
    return PageRun(page.path, "done", tuple(call.events or ()), started, time.time(), "", pid)


class _Ending:
    """Builds the PageRun of a page that did not finish normally."""

    def __init__(
        self, server: PageServer, token: str, page: BrowserPage, started: float, pid: int | None
    ) -> None:
        self.server, self.token, self.page, self.started, self.pid = (
            server, token, page, started, pid,
        )  # fmt: skip

    def partial(self, status: PageStatus, why: str) -> PageRun:
        time.sleep(SETTLE_SECONDS)
        events = tuple(self.server.sink.take(self.token))
        return PageRun(self.page.path, status, events, self.started, time.time(), why, self.pid)

    def from_error(self, exc: Exception, timeout: float) -> PageRun:
        from selenium.common.exceptions import JavascriptException, TimeoutException

        if isinstance(exc, TimeoutException):
            return self.partial("timeout", _timeout_text(timeout))
        if isinstance(exc, JavascriptException):
            why = f"dtf's API did not run in the page: {_first_line(exc.msg or str(exc))}"
            return self.partial("error", why)
        return self.lost(exc)

    def lost(self, exc: Exception) -> PageRun:
        """A crashed tab is the page's result; anything else means the browser is gone."""
        text = _first_line(getattr(exc, "msg", None) or str(exc))
        if any(word in text.lower() for word in CRASH_WORDS):
            return self.partial("crashed", f"the tab crashed: {text}")
        why = f"the browser was lost: {type(exc).__name__}: {text}"
        raise BrowserLostError(why, self.partial("crashed", why)) from exc


def _wait_done(instance: BrowserInstance, deadline: float) -> Any:
    from selenium.common.exceptions import TimeoutException

    while True:
        left = deadline - time.time()
        instance.driver.set_script_timeout(_left(deadline, WAIT_SLICE_SECONDS))
        try:
            return instance.driver.execute_async_script(WAIT_SCRIPT)
        except TimeoutException:
            if left <= WAIT_SLICE_SECONDS:
                raise


def probe(instance: BrowserInstance, server: PageServer) -> dict[str, Any]:
    """Run the hardware probe's script in this browser, on a page of the server's origin."""
    driver = instance.driver
    driver.set_page_load_timeout(PROBE_SECONDS)
    driver.get(server.origin + BLANK_PATH)
    driver.set_script_timeout(PROBE_SECONDS)
    return dict(driver.execute_async_script(PROBE_JS))


def _fresh_tab(instance: BrowserInstance, server: PageServer, token: str) -> None:
    # A new tab per page, the old one closed, and the origin's storage (cookies, local
    # storage, IndexedDB, caches, service workers) cleared: no page sees another's state.
    # chromedriver's window handles are DevTools target ids, so the old tab is closed
    # through DevTools without switching back to it (two driver round trips fewer).
    driver = instance.driver
    old = driver.current_window_handle
    driver.switch_to.new_window("tab")
    driver.execute_cdp_cmd("Target.closeTarget", {"targetId": old})
    driver.execute_cdp_cmd(
        "Storage.clearDataForOrigin", {"origin": server.origin, "storageTypes": "all"}
    )
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": api_source(token)})


def _left(deadline: float, cap: float) -> float:
    return max(0.1, min(deadline - time.time(), cap))


def _timeout_text(timeout: float) -> str:
    return f"the page did not call dtf.done() within {timeout:g}s"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
