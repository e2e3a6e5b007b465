"""The browser pool against real Chromium: reuse, recycling, restarts, and clean teardown."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from dtf.browser.pool import BrowserPool, PoolConfig
from dtf.browser.server import PageServer
from dtf.browser.shard import run_browser_shard
from dtf.browser.spec import BrowserPage
from dtf.errors import InfrastructureError
from dtf.hardware.browsers import find_driver

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "browser_pages"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or find_driver("chromium") is None,
    reason="Chromium and chromedriver are not installed "
    "(apt-get install -y chromium chromium-driver)",
)
BROWSER_NAMES = ("chromium", "chromedriver", "chrome")
PASS = BrowserPage(path="pass.html", timeout=30)


@pytest.fixture
def server() -> Iterator[PageServer]:
    served = PageServer(PAGES)
    yield served
    served.close()


def _pool(server: PageServer, **config: object) -> BrowserPool:
    return BrowserPool(PoolConfig(root=PAGES, **config), server)  # type: ignore[arg-type]


def _browser_children() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and child.name() in BROWSER_NAMES:
                found.append(child)
        except psutil.Error:
            continue
    return found


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return any(p.status() != psutil.STATUS_ZOMBIE for p in psutil.process_iter()
               if _pgid(p) == pgid)  # fmt: skip


def _pgid(proc: psutil.Process) -> int | None:
    try:
        return os.getpgid(proc.pid)
    except OSError:
        return None


def test_one_browser_serves_every_page_in_a_fresh_tab_with_clean_storage(
    server: PageServer,
) -> None:
    pool = _pool(server)
    try:
        slot = pool.slots[0]
        pages = [PASS, BrowserPage(path="storage.html"), BrowserPage(path="storage.html?2"), PASS]
        runs = [slot.run(page, 30) for page in pages]
    finally:
        pool.close()
    assert [r.status for r in runs] == ["done"] * 4
    pids = {r.browser_pid for r in runs}
    assert len(pids) == 1 and None not in pids
    assert pool.launches == 1
    # storage.html writes localStorage, a cookie and IndexedDB, and fails if it finds them.
    second = [e for e in runs[2].events if e.get("kind") == "result"]
    assert [(e["name"], e["outcome"]) for e in second] == [("starts clean", "passed")]


def test_a_browser_is_recycled_after_n_pages(server: PageServer) -> None:
    pool = _pool(server, pages_per_browser=2)
    try:
        slot = pool.slots[0]
        runs = [slot.run(PASS, 30) for _ in range(5)]
    finally:
        pool.close()
    pids = [r.browser_pid for r in runs]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
    assert pool.launches == 3
    assert slot.history.restarts == ["recycled after 2 pages"] * 2


@pytest.mark.parametrize(("page", "status"), [("crash.html", "crashed"), ("busy.html", "timeout")])
def test_a_crash_or_hang_retires_the_browser_and_the_next_page_gets_a_new_one(
    server: PageServer, page: str, status: str
) -> None:
    pool = _pool(server, flags=("--js-flags=--max-old-space-size=64",))
    try:
        slot = pool.slots[0]
        first = slot.run(PASS, 30)
        assert slot.instance is not None
        old_group = slot.instance.pgid
        bad = slot.run(BrowserPage(path=page), 3)
        assert slot.instance is None  # retired at once, not left running
        assert not _group_alive(old_group)
        after = slot.run(PASS, 30)
    finally:
        pool.close()
    assert bad.status == status
    assert after.status == "done"
    assert first.browser_pid == bad.browser_pid != after.browser_pid
    assert pool.launches == 2
    assert slot.history.restarts == [f"{status} on {page}"]


def test_a_killed_browser_is_restarted_and_the_page_run_on_the_new_one(
    server: PageServer,
) -> None:
    pool = _pool(server)
    try:
        slot = pool.slots[0]
        first = slot.run(PASS, 30)
        assert slot.instance is not None
        os.killpg(slot.instance.pgid, signal.SIGKILL)  # the driver and browser die between pages
        again = slot.run(PASS, 30)
    finally:
        pool.close()
    assert again.status == "done"
    assert again.browser_pid != first.browser_pid
    assert pool.launches == 2
    assert len(slot.history.restarts) == 1
    assert slot.history.restarts[0].startswith("lost: the browser was lost")


def test_a_browser_that_cannot_be_restarted_fails_the_shard_as_browser_lost(
    server: PageServer, tmp_path: Path
) -> None:
    assert CHROMIUM is not None
    wrapper = tmp_path / "chromium"
    wrapper.write_text(f'#!/bin/sh\nexec {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    pool = _pool(server, binary=str(wrapper), worker="w-1")
    try:
        slot = pool.slots[0]
        assert slot.run(PASS, 30).status == "done"
        wrapper.write_text("#!/bin/sh\nexit 1\n")  # the browser is gone from this worker
        assert slot.instance is not None
        os.killpg(slot.instance.pgid, signal.SIGKILL)
        with pytest.raises(InfrastructureError) as raised:
            slot.run(PASS, 30)
    finally:
        pool.close()
    assert raised.value.error_class == "browser_lost"
    assert raised.value.worker == "w-1"
    assert "could not be (re)started" in str(raised.value)


def test_run_browser_shard_raises_browser_lost_when_no_browser_starts(tmp_path: Path) -> None:
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    config = PoolConfig(root=PAGES, binary=str(broken))
    with pytest.raises(InfrastructureError) as raised:
        run_browser_shard([PASS], config)
    assert raised.value.error_class == "browser_lost"
    assert _browser_children() == []


def test_no_browser_process_outlives_the_pool(server: PageServer) -> None:
    pool = _pool(server, size=2, flags=("--js-flags=--max-old-space-size=64",))
    groups = []
    try:
        for slot in pool.slots:
            assert slot.run(PASS, 30).status == "done"
            assert slot.instance is not None
            groups.append(slot.instance.pgid)
        # one slot's browser crashes and is replaced: its group must be gone too
        pool.slots[0].run(BrowserPage(path="crash.html"), 20)
        pool.slots[0].run(PASS, 30)
        assert pool.slots[0].instance is not None
        groups.append(pool.slots[0].instance.pgid)
        assert len(_browser_children()) > 0
    finally:
        pool.close()
    assert _browser_children() == []
    assert [g for g in groups if _group_alive(g)] == []


def test_a_shard_over_a_pool_of_two_runs_pages_on_both_browsers() -> None:
    pages = [BrowserPage(path=f"pass.html?{i}", timeout=30) for i in range(6)]
    outcome = run_browser_shard(pages, PoolConfig(root=PAGES, size=2))
    rows = [r for r in outcome.results if "::" not in r.nodeid]
    assert [r.outcome for r in rows] == ["passed"] * 6
    assert outcome.launches == 2
    assert _browser_children() == []
