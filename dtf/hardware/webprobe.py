"""Runs in a subprocess: drives one browser through Selenium and prints what a page can do.

Usage: python -m dtf.hardware.webprobe KIND BROWSER_PATH DRIVER_PATH. Prints one JSON line:
the probe's findings, or {"error": ...}. WebGPU counts only if requestAdapter() returns an
adapter, WebNN only if createContext() succeeds; the JS objects existing proves nothing.
"""

from __future__ import annotations

import json
import sys
import tempfile
from typing import Any

from dtf.hardware.tools import first_line

# Headless, offline, and no first-run or update traffic. --enable-unsafe-webgpu: Debian's
# Chromium offers WebGPU only with it (a SwiftShader fallback adapter without a GPU). The
# WebNN feature flag lets createContext() answer for itself instead of navigator.ml
# being absent. No --disable-gpu: it would hide a real GPU adapter on a GPU host.
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
    "--no-default-browser-check", "--enable-unsafe-webgpu",
    "--enable-features=WebMachineLearningNeuralNetwork",
]  # fmt: skip
FIREFOX_FLAGS = ["-headless"]
SCRIPT_TIMEOUT_SECONDS = 30

# Tiny modules from wasm-feature-detect: a v128 instruction, and an atomic load from
# shared memory. WebAssembly.validate accepts them only if the engine supports the feature.
PROBE_JS = """
const done = arguments[arguments.length - 1];
const SIMD = new Uint8Array([0,97,115,109,1,0,0,0,1,5,1,96,0,1,123,3,2,1,0,10,10,1,8,0,65,0,253,15,
  253,98,11]);
const THREADS = new Uint8Array([0,97,115,109,1,0,0,0,1,4,1,96,0,0,3,2,1,0,5,4,1,3,1,1,10,11,1,9,0,
  65,0,254,16,2,0,26,11]);
function validate(bytes, what) {
  if (typeof WebAssembly !== "object") return {available: false, reason: "no WebAssembly"};
  try {
    return WebAssembly.validate(bytes) ? {available: true}
      : {available: false, reason: "WebAssembly.validate rejects a " + what + " module"};
  } catch (e) { return {available: false, reason: String(e)}; }
}
async function webgpu() {
  if (!navigator.gpu) return {available: false, reason: "navigator.gpu is undefined"};
  let adapter;
  try { adapter = await navigator.gpu.requestAdapter(); }
  catch (e) { return {available: false, reason: "requestAdapter() threw " + e}; }
  if (!adapter) return {available: false, reason: "requestAdapter() returned null"};
  let info = adapter.info;
  if (!info && adapter.requestAdapterInfo) info = await adapter.requestAdapterInfo();
  info = info || {};
  const fallback = info.isFallbackAdapter ?? adapter.isFallbackAdapter;
  return {available: true, vendor: info.vendor || null, architecture: info.architecture || null,
          device: info.device || null, description: info.description || null,
          is_fallback: fallback === undefined ? null : Boolean(fallback)};
}
async function webnn() {
  if (!navigator.ml) return {available: false, reason: "navigator.ml is undefined"};
  try { await navigator.ml.createContext(); return {available: true}; }
  catch (e) { return {available: false, reason: "createContext() failed: " + e}; }
}
(async () => ({
  webgpu: await webgpu(), webnn: await webnn(),
  wasm_simd: validate(SIMD, "SIMD"), wasm_threads: validate(THREADS, "shared-memory atomics"),
}))().then(done, (e) => done({error: String(e)}));
"""


def probe(kind: str, browser: str, driver_path: str) -> dict[str, Any]:
    """Start the browser headless, run the probe page script, and quit it."""
    with tempfile.TemporaryDirectory(prefix="dtf-webprobe-") as profile:
        driver, flags = _start(kind, browser, driver_path, profile)
        try:
            driver.set_script_timeout(SCRIPT_TIMEOUT_SECONDS)
            found = dict(driver.execute_async_script(PROBE_JS))
            found["browserVersion"] = driver.capabilities.get("browserVersion")
            found["flags"] = flags
            return found
        finally:
            driver.quit()


def _start(kind: str, browser: str, driver_path: str, profile: str) -> tuple[Any, list[str]]:
    from selenium import webdriver

    if kind == "firefox":
        from selenium.webdriver.firefox.service import Service as FirefoxService

        fopts = webdriver.FirefoxOptions()
        fopts.binary_location = browser
        for flag in FIREFOX_FLAGS:  # geckodriver makes its own throwaway profile
            fopts.add_argument(flag)
        fopts.set_preference("dom.webgpu.enabled", True)
        service = FirefoxService(executable_path=driver_path)
        return webdriver.Firefox(options=fopts, service=service), FIREFOX_FLAGS
    from selenium.webdriver.chrome.service import Service as ChromeService

    copts = webdriver.ChromeOptions()
    copts.binary_location = browser
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        copts.add_argument(flag)
    return webdriver.Chrome(options=copts, service=ChromeService(driver_path)), CHROMIUM_FLAGS


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(json.dumps({"error": "usage: webprobe KIND BROWSER_PATH DRIVER_PATH"}))
        return 2
    try:
        found = probe(*argv)
    except ImportError as exc:
        found = {"error": f"selenium is not installed: {exc}"}
    except Exception as exc:  # any WebDriver failure is a finding, reported to the parent
        found = {"error": f"{type(exc).__name__}: {first_line(str(exc))}"}
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
