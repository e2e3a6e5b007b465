"""benchmarks/browser_pool.py runs end to end on two pages and prints every figure."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dtf.hardware.browsers import find_driver

BENCHMARK = Path(__file__).resolve().parent.parent.parent / "benchmarks" / "browser_pool.py"
NUMBER = r"(\d+\.\d+)"


@pytest.mark.skipif(
    (shutil.which("chromium") or shutil.which("chromium-browser")) is None
    or find_driver("chromium") is None,
    reason="Chromium and chromedriver are not installed "
    "(apt-get install -y chromium chromium-driver)",
)
def test_the_browser_pool_benchmark_prints_rates_and_memory() -> None:
    done = subprocess.run([sys.executable, str(BENCHMARK), "--pages", "2"], capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert re.search(r"machine: nproc=\d+ chromium=\d+\.", out)
    pooled = re.search(rf"pooled browser +pages/s +{NUMBER} .*browsers started 1$", out, re.M)
    fresh = re.search(rf"new browser per page +pages/s +{NUMBER} .*browsers started 2$", out, re.M)
    assert pooled is not None and fresh is not None, out
    assert float(pooled.group(1)) > 0 and float(fresh.group(1)) > 0
    assert re.search(rf"ratio pooled/new: {NUMBER}", out)
    for size in (1, 2):
        assert re.search(rf"pool of {size} +pages/s +{NUMBER} +per browser +{NUMBER}", out)
    memory = re.search(rf"after 1 page rss {NUMBER} MiB pss {NUMBER} MiB; after 2 pages rss "
                       rf"{NUMBER} MiB pss {NUMBER} MiB", out)  # fmt: skip
    assert memory is not None, out
    assert 50 < float(memory.group(1)) < 8000  # a browser's tree is tens to thousands of MiB
