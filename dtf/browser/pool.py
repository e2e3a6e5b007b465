"""A pool of browsers per worker: reused across pages, restarted after crashes or N pages."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dtf.browser.capabilities import Capabilities, missing
from dtf.browser.instance import BrowserInstance, BrowserSetup, BrowserStartError
from dtf.browser.page import BrowserLostError, probe, run_page
from dtf.browser.results import PageRun
from dtf.browser.server import PageServer
from dtf.browser.spec import BrowserPage
from dtf.errors import InfrastructureError
from dtf.hardware.browsers import find_browsers, find_driver
from dtf.hardware.model import BrowserKind

BROWSER_LOST = "browser_lost"
START_ATTEMPTS = 2


@dataclass(frozen=True)
class PoolConfig:
    """How many browsers, which one, and when to recycle them."""

    root: Path
    size: int = 1
    kind: BrowserKind = "chromium"
    binary: str | None = None  # None: the first `kind` browser found on this machine
    driver: str | None = None  # None: the system driver (never a download)
    flags: tuple[str, ...] = ()
    pages_per_browser: int = 50
    capabilities: Capabilities | None = None  # None: probed in the pool's first browser
    worker: str = ""


def pool_size(resources: Mapping[str, float], kind: str, default: int = 1) -> int:
    """Browsers to start from the shard's resources (`browser_chromium=2` gives two)."""
    amount = resources.get(f"browser_{kind}")
    return max(1, int(amount)) if amount else default


def browser_setup(config: PoolConfig) -> BrowserSetup:
    """The binary and driver to run; a machine without them is an infrastructure fault."""
    binary = config.binary or next((p for k, p in find_browsers() if k == config.kind), None)
    driver = config.driver or find_driver(config.kind)
    if binary is None or driver is None:
        what = "browser" if binary is None else "driver"
        raise InfrastructureError(f"no {config.kind} {what} on this worker",
                                  error_class=BROWSER_LOST, worker=config.worker)  # fmt: skip
    return BrowserSetup(binary=binary, driver=driver, flags=config.flags)


@dataclass
class SlotHistory:
    """The browsers one slot ran, and why each was replaced."""

    browser_pids: list[int | None] = field(default_factory=list)
    restarts: list[str] = field(default_factory=list)


class BrowserSlot:
    """One browser of the pool, (re)started on demand; used by one thread at a time."""

    def __init__(self, pool: BrowserPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.instance: BrowserInstance | None = None
        self.history = SlotHistory()

    def run(self, page: BrowserPage, timeout: float) -> PageRun:
        """Run one page; a browser lost under it is restarted and the page tried once more."""
        try:
            return self._run_once(page, timeout)
        except BrowserLostError as first:
            self._retire(f"lost: {first}")
        try:
            return self._run_once(page, timeout)
        except BrowserLostError as second:
            self._retire(f"lost again: {second}")
            if second.run is None:  # lost before the page even started: not the page's doing
                raise InfrastructureError(str(second), error_class=BROWSER_LOST,
                                          worker=self.pool.config.worker) from second  # fmt: skip
            # Twice in a row under this page, and a fresh browser each time: the page's doing.
            return second.run

    def _run_once(self, page: BrowserPage, timeout: float) -> PageRun:
        instance = self._ready()
        skip = self.pool.skip_reason(page, self)
        if skip is not None:
            return PageRun(page.path, "skipped", reason=skip, browser_pid=instance.browser_pid)
        run = run_page(instance, self.pool.server, page, timeout)
        if run.status in ("crashed", "timeout"):
            # A crashed tab leaves chromedriver's session unusable, and a hung renderer
            # wedges it (measured): start afresh rather than probe a broken browser.
            self._retire(f"{run.status} on {page.path}")
        elif instance.pages >= self.pool.config.pages_per_browser:
            self._retire(f"recycled after {instance.pages} pages")
        return run

    def _ready(self) -> BrowserInstance:
        if self.instance is None:
            self.instance = self.pool.start_browser()
            self.history.browser_pids.append(self.instance.browser_pid)
        return self.instance

    def _retire(self, why: str) -> None:
        if self.instance is not None:
            self.instance.close()
            self.instance = None
            self.history.restarts.append(why)

    def close(self) -> None:
        if self.instance is not None:
            self.instance.close()
            self.instance = None


class BrowserPool:
    """`config.size` browser slots serving pages from one page server."""

    def __init__(self, config: PoolConfig, server: PageServer) -> None:
        self.config = config
        self.server = server
        self.setup = browser_setup(config)
        self.slots = [BrowserSlot(self, i) for i in range(config.size)]
        self.capabilities = config.capabilities
        self.launches = 0
        self._lock = threading.Lock()
        self._live: set[BrowserInstance] = set()
        atexit.register(self.close)  # a worker that exits normally leaves no browser behind

    def start_browser(self) -> BrowserInstance:
        """A new browser; failing START_ATTEMPTS times is the shard's infrastructure fault."""
        errors = []
        for _ in range(START_ATTEMPTS):
            try:
                instance = BrowserInstance(self.setup)
            except BrowserStartError as exc:
                errors.append(str(exc))
                continue
            with self._lock:
                self.launches += 1
                self._live.add(instance)
            return instance
        raise InfrastructureError(
            f"{self.config.kind} could not be (re)started: {errors[-1]}",
            error_class=BROWSER_LOST, worker=self.config.worker,
        )  # fmt: skip

    def skip_reason(self, page: BrowserPage, slot: BrowserSlot) -> str | None:
        if not page.requires:
            return None
        with self._lock:
            if self.capabilities is None:
                assert slot.instance is not None
                self.capabilities = self._probe(slot.instance)
        return missing(self.capabilities, page.requires)

    def _probe(self, instance: BrowserInstance) -> Capabilities:
        try:
            return Capabilities.from_probe(probe(instance, self.server))
        except Exception as exc:  # any driver failure here: treat the browser as lost
            raise BrowserLostError(f"capability probe failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Kill every browser the pool started; safe to call twice."""
        for slot in self.slots:
            slot.close()
        with self._lock:
            live, self._live = self._live, set()
        for instance in live:
            instance.close()
        atexit.unregister(self.close)
