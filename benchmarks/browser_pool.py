"""Pages per second in a pooled browser versus a new browser per page, and a browser's memory.

Run: .venv/bin/python benchmarks/browser_pool.py [--pages 40]
Each page is trivial (one result, then done), so the figures are dtf's per-page cost:
a fresh tab, cleared storage, the injected API, navigation, and the wait for done().
Memory is summed over the driver and every browser process: RSS counts a shared page once
per process that maps it, PSS shares it out, so PSS is the fairer per-browser figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from dtf.browser.pool import BrowserPool, PoolConfig
from dtf.browser.server import serving
from dtf.browser.shard import run_browser_shard
from dtf.browser.spec import BrowserPage
from dtf.hardware.browsers import browser_version, find_browsers

PAGE = """<!doctype html><html><head><title>bench</title></head><body><script>
dtf.metric("n", 1, ""); dtf.result("trivial", "passed"); dtf.done();
</script></body></html>"""
MIB = 1024 * 1024


def one_slot(root: Path, pages: int, per_browser: int) -> tuple[float, float, int]:
    """(pages/s including the first start, ms per page after the first, browsers started)."""
    with serving(root) as server:
        pool = BrowserPool(PoolConfig(root=root, pages_per_browser=per_browser), server)
        try:
            slot = pool.slots[0]
            started = time.perf_counter()
            _page(slot.run(BrowserPage(path="bench.html"), 60))
            first = time.perf_counter()
            for i in range(1, pages):
                _page(slot.run(BrowserPage(path=f"bench.html?{i}"), 60))
            ended = time.perf_counter()
        finally:
            pool.close()
    per_page_ms = 1000 * (ended - first) / max(1, pages - 1)
    return pages / (ended - started), per_page_ms, pool.launches


def memory(root: Path, pages: int) -> tuple[float, float, float, float]:
    """(RSS, PSS) in MiB of one pooled browser after its first page and after `pages`."""
    with serving(root) as server:
        pool = BrowserPool(PoolConfig(root=root, pages_per_browser=pages + 1), server)
        try:
            slot = pool.slots[0]
            _page(slot.run(BrowserPage(path="bench.html"), 60))
            assert slot.instance is not None
            early = slot.instance.rss_bytes() / MIB, slot.instance.pss_bytes() / MIB
            for i in range(1, pages):
                _page(slot.run(BrowserPage(path=f"bench.html?{i}"), 60))
            late = slot.instance.rss_bytes() / MIB, slot.instance.pss_bytes() / MIB
        finally:
            pool.close()
    return (*early, *late)


def shard(root: Path, pages: int, size: int) -> tuple[float, float]:
    """(pages/s, seconds) of run_browser_shard over `pages` pages with `size` browsers."""
    batch = [BrowserPage(path=f"bench.html?{i}", timeout=60) for i in range(pages)]
    started = time.perf_counter()
    outcome = run_browser_shard(batch, PoolConfig(root=root, size=size))
    wall = time.perf_counter() - started
    assert all(r.outcome == "passed" for r in outcome.results), outcome.counts()
    return pages / wall, wall


def _page(run: object) -> None:
    status = getattr(run, "status", None)
    if status != "done":
        raise SystemExit(f"a benchmark page did not finish: {status} {getattr(run, 'reason', '')}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=40, help="pages per measurement")
    args = parser.parse_args(argv)
    pages = max(2, args.pages)
    found = next((p for k, p in find_browsers() if k == "chromium"), None)
    if found is None:
        print("no Chromium on this machine (apt-get install -y chromium chromium-driver)")
        return 1
    print(f"machine: nproc={os.cpu_count()} chromium={browser_version(found)} "
          f"python={platform.python_version()}")  # fmt: skip
    print(f"pages: {pages} trivial (one result, one metric, done)")
    with tempfile.TemporaryDirectory(prefix="dtf-bench-browser-") as tmp:
        root = Path(tmp)
        (root / "bench.html").write_text(PAGE)
        pooled = one_slot(root, pages, per_browser=pages + 1)
        fresh = one_slot(root, pages, per_browser=1)
        print(f"pooled browser        pages/s {pooled[0]:7.2f}  per page {pooled[1]:7.1f} ms  "
              f"browsers started {pooled[2]}")  # fmt: skip
        print(f"new browser per page  pages/s {fresh[0]:7.2f}  per page {fresh[1]:7.1f} ms  "
              f"browsers started {fresh[2]}")  # fmt: skip
        print(f"ratio pooled/new: {pooled[0] / fresh[0]:.2f}")
        for size in (1, 2):
            rate, wall = shard(root, pages, size)
            print(f"run_browser_shard, pool of {size}  pages/s {rate:7.2f}  "
                  f"per browser {rate / size:7.2f}  wall {wall:.2f} s")  # fmt: skip
        rss1, pss1, rss_n, pss_n = memory(root, pages)
        print(f"memory per pooled browser: after 1 page rss {rss1:.1f} MiB pss {pss1:.1f} MiB; "
              f"after {pages} pages rss {rss_n:.1f} MiB pss {pss_n:.1f} MiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
