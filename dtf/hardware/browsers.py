"""Finds browsers on the machine and probes each one, in a subprocess, for WebGPU/WebNN/WASM."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dtf.hardware.model import BrowserInfo, BrowserKind, Feature, WebGpu
from dtf.hardware.tools import first_line, run_tool

PROBE_TIMEOUT_SECONDS = 60.0
VERSION_TIMEOUT_SECONDS = 5.0
CANDIDATES: dict[BrowserKind, tuple[str, ...]] = {
    "chromium": ("chromium", "chromium-browser",
                 "/Applications/Chromium.app/Contents/MacOS/Chromium"),
    "chrome": ("google-chrome", "google-chrome-stable",
               "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"),
    "firefox": ("firefox", "firefox-esr", "/Applications/Firefox.app/Contents/MacOS/firefox"),
}  # fmt: skip
DRIVERS: dict[BrowserKind, str] = {"chromium": "chromedriver", "chrome": "chromedriver",
                                   "firefox": "geckodriver"}  # fmt: skip
_VERSION = re.compile(r"(\d+(?:\.\d+)+)")


def find_browsers() -> list[tuple[BrowserKind, str]]:
    """(kind, path) of every browser found, each real binary once (symlinks collapse)."""
    found: list[tuple[BrowserKind, str]] = []
    seen: set[str] = set()
    for kind, names in CANDIDATES.items():
        for name in names:
            path = shutil.which(name)
            if path is None or os.path.realpath(path) in seen:
                continue
            seen.add(os.path.realpath(path))
            found.append((kind, path))
            break
    return found


def find_driver(kind: BrowserKind) -> str | None:
    name = DRIVERS[kind]
    # Debian's chromium-driver installs to /usr/bin, which a worker's PATH may lack.
    fallback = Path("/usr/bin") / name
    return shutil.which(name) or (str(fallback) if fallback.is_file() else None)


def browser_version(path: str) -> str | None:
    found = _VERSION.search(run_tool([path, "--version"], timeout=VERSION_TIMEOUT_SECONDS).stdout)
    return found.group(1) if found else None


def detect_browsers(timeout: float = PROBE_TIMEOUT_SECONDS) -> list[BrowserInfo]:
    """Every browser found, probed in turn; a browser that cannot be probed says why."""
    return [probe_browser(kind, path, timeout) for kind, path in find_browsers()]


def probe_browser(
    kind: BrowserKind, path: str, timeout: float = PROBE_TIMEOUT_SECONDS
) -> BrowserInfo:
    """Drive the browser at `path` once; whatever fails is recorded as the reason."""
    driver = find_driver(kind)
    base = BrowserInfo(kind=kind, path=path, driver=driver)
    if driver is None:
        return _unprobed(base, f"no {DRIVERS[kind]} found to drive it")
    outcome = _run_probe(kind, path, driver, timeout)
    if "error" in outcome:
        return _unprobed(base, f"probe failed: {outcome['error']}")
    try:
        return base.model_copy(update=_probe_fields(outcome))
    except (KeyError, TypeError, ValidationError) as exc:
        return _unprobed(base, f"probe answered unexpectedly: {exc}")


def _unprobed(base: BrowserInfo, reason: str) -> BrowserInfo:
    # The driven browser reports its version itself; one that was not driven is asked.
    return base.model_copy(update={"reason": reason, "version": browser_version(base.path)})


def _run_probe(kind: str, path: str, driver: str, timeout: float) -> dict[str, Any]:
    # A subprocess in its own session: a browser that hangs or crashes is killed with its
    # whole process group, and the worker that asked survives.
    argv = [sys.executable, "-m", "dtf.hardware.webprobe", kind, path, driver]
    env = {**os.environ, "SE_OFFLINE": "true"}  # Selenium Manager must never download
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, errors="replace", env=env, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        return {"error": f"cannot start the probe: {exc}"}
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return {"error": f"no answer within {timeout:g}s"}
    return _parse_probe(proc.returncode, out, err)


def _parse_probe(returncode: int, out: str, err: str) -> dict[str, Any]:
    lines = out.strip().splitlines()
    try:
        data = json.loads(lines[-1]) if lines else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    said = first_line(err.splitlines()[-1] if err.strip() else "") or "no output"
    return {"error": f"probe exited {returncode}: {said}"}


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.communicate()


def _probe_fields(outcome: dict[str, Any]) -> dict[str, Any]:
    return {
        "probed": True,
        "version": outcome.get("browserVersion"),
        "flags": list(outcome.get("flags", [])),
        "webgpu": WebGpu.model_validate(outcome["webgpu"]),
        "webnn": Feature.model_validate(outcome["webnn"]),
        "wasm_simd": Feature.model_validate(outcome["wasm_simd"]),
        "wasm_threads": Feature.model_validate(outcome["wasm_threads"]),
    }
