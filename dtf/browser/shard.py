"""Runs a shard of browser pages on this worker's browser pool and returns its results."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from dtf.browser.pool import BrowserPool, BrowserSlot, PoolConfig
from dtf.browser.results import PageRun, page_results
from dtf.browser.server import serving
from dtf.browser.spec import BrowserPage
from dtf.execution.outcomes import CaseResult, ShardOutcome
from dtf.spec.models import Limits


@dataclass
class _Work:
    """The pages still to run, and what the slot threads have produced so far."""

    pages: queue.Queue[tuple[int, BrowserPage]]
    deadline: float
    limits: Limits
    runs: dict[int, PageRun] = field(default_factory=dict)
    fault: BaseException | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_browser_shard(
    pages: Sequence[BrowserPage],
    pool_config: PoolConfig,
    limits: Limits | None = None,
    *,
    shard_id: str = "browser",
) -> ShardOutcome:
    """Run `pages` on a pool of `pool_config.size` browsers; every page gets its own row.

    A red page is a result; a browser that cannot be (re)started raises InfrastructureError
    (error_class "browser_lost"), and only that.
    """
    limits = limits or Limits()
    started = time.monotonic()
    work = _Work(queue.Queue(), started + limits.shard_timeout, limits)
    for index, page in enumerate(pages):
        work.pages.put((index, page))
    size = max(1, min(pool_config.size, len(pages)))
    with serving(pool_config.root) as server:
        pool = BrowserPool(_sized(pool_config, size), server)
        try:
            _drive(pool, work)
        finally:
            pool.close()
    if work.fault is not None:
        raise work.fault
    results = _collect(pages, work)
    return ShardOutcome(
        shard_id=shard_id,
        results=results,
        launches=pool.launches,
        wall_seconds=time.monotonic() - started,
        worker=pool_config.worker,
        hardware=f"browser_{pool_config.kind}",
    )


def _sized(config: PoolConfig, size: int) -> PoolConfig:
    import dataclasses

    return dataclasses.replace(config, size=size)


def _drive(pool: BrowserPool, work: _Work) -> None:
    threads = [
        threading.Thread(target=_slot_loop, args=(slot, work), name=f"dtf-browser-{slot.index}")
        for slot in pool.slots
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _slot_loop(slot: BrowserSlot, work: _Work) -> None:
    while work.fault is None:
        try:
            index, page = work.pages.get_nowait()
        except queue.Empty:
            return
        left = work.deadline - time.monotonic()
        if left <= 0:
            why = f"not run: the shard's timeout of {work.limits.shard_timeout:g}s ran out"
            _store(work, index, PageRun(page.path, "timeout", (), time.time(), time.time(), why))
            continue
        timeout = min(page.timeout or work.limits.test_timeout, left)
        try:
            _store(work, index, slot.run(page, timeout))
        except BaseException as exc:  # an infrastructure fault stops every slot
            with work.lock:
                work.fault = work.fault or exc
            return


def _store(work: _Work, index: int, run: PageRun) -> None:
    with work.lock:
        work.runs[index] = run


def _collect(pages: Sequence[BrowserPage], work: _Work) -> list[CaseResult]:
    results: list[CaseResult] = []
    for index in range(len(pages)):
        results += page_results(work.runs[index], work.limits.output_limit_bytes)
    return results
