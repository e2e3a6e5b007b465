"""The browser probe against the real Chromium and chromedriver on this machine."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import psutil
import pytest

from dtf.hardware.browsers import find_driver, probe_browser
from dtf.hardware.detect import detect
from dtf.hardware.model import BrowserInfo
from dtf.hardware.resources import derive_resources

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or find_driver("chromium") is None,
    reason="Chromium and chromedriver are not installed "
    "(apt-get install -y chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def chromium() -> str:
    assert CHROMIUM is not None
    return CHROMIUM


@needs_chromium
def test_chromium_gives_a_webgpu_adapter_but_no_webnn_context(chromium: str) -> None:
    found = probe_browser("chromium", chromium)
    assert found.probed, found.reason
    assert found.version and found.version.split(".")[0].isdigit()
    # Measured here (DESIGN.md section 3): with --enable-unsafe-webgpu the only adapter is
    # SwiftShader's fallback; createContext() of WebNN throws.
    assert found.webgpu.available, found.webgpu.reason
    assert found.webgpu.is_fallback is True
    assert found.webgpu.architecture == "swiftshader"
    assert "--enable-unsafe-webgpu" in found.flags
    assert not found.webnn.available
    assert found.webnn.reason is not None and "createContext() failed" in found.webnn.reason
    assert found.wasm_simd.available and found.wasm_threads.available


@needs_chromium
def test_detected_browsers_advertise_webgpu_but_not_webnn(chromium: str) -> None:
    tax = detect(browsers=True)
    assert [b.kind for b in tax.browsers if b.path == chromium] == ["chromium"]
    res = derive_resources(tax)
    assert res["browser_chromium"] == tax.cpu.logical_cores
    assert res["webgpu"] == 1.0
    assert "webgpu_hw" not in res  # a software adapter is not a GPU
    assert "webnn" not in res


@needs_chromium
def test_a_binary_that_is_not_a_browser_is_reported_not_probed(tmp_path: Path) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    found = probe_browser("chromium", str(fake), timeout=60)
    assert not found.probed
    assert found.reason is not None and found.reason.startswith("probe failed: ")
    assert derive_resources_of(found) == {}


@needs_chromium
def test_a_browser_that_hangs_is_killed_at_the_timeout(tmp_path: Path) -> None:
    hang = tmp_path / "chromium"
    marker = f"{300 + os.getpid() % 1000}.{time.time_ns() % 10**6}"  # this test's own sleep
    hang.write_text(f"#!/bin/sh\nexec sleep {marker}\n")
    hang.chmod(0o755)
    started = time.monotonic()
    found = probe_browser("chromium", str(hang), timeout=4)
    assert time.monotonic() - started < 15
    assert not found.probed
    assert found.reason == "probe failed: no answer within 4s"
    assert not _running(["sleep", marker]), "the hung browser outlived the probe"


def _running(cmdline: list[str]) -> list[psutil.Process]:
    time.sleep(0.5)
    return [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == cmdline]


def derive_resources_of(browser: BrowserInfo) -> dict[str, float]:
    tax = detect(browsers=False).model_copy(update={"browsers": [browser]})
    return {k: v for k, v in derive_resources(tax).items() if k != "cpu"}
