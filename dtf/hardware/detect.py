"""Detects this machine's whole taxonomy; every probe is guarded so detection never raises."""

from __future__ import annotations

import datetime as dt
import platform
import socket
import time
from collections.abc import Callable
from typing import TypeVar

from dtf.hardware.amd import detect_amd
from dtf.hardware.apple import detect_mps
from dtf.hardware.browsers import detect_browsers
from dtf.hardware.cpu import detect_cpu
from dtf.hardware.model import BrowserInfo, CpuInfo, GpuVendor, MpsInfo, Taxonomy
from dtf.hardware.nvidia import detect_nvidia
from dtf.hardware.tools import skipped

T = TypeVar("T")


def detect(browsers: bool = True) -> Taxonomy:
    """What this machine has now. `browsers=False` skips the browser probe (seconds)."""
    started = time.monotonic()
    probe_browsers = browsers and not skipped("browsers")
    return Taxonomy(
        host=socket.gethostname(),
        platform=platform.platform(),
        python=platform.python_version(),
        detected_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        cpu=_guard(detect_cpu, _unknown_cpu),
        nvidia=_guard(detect_nvidia, lambda why: GpuVendor(present=False, reason=why)),
        amd=_guard(detect_amd, lambda why: GpuVendor(present=False, reason=why)),
        mps=_guard(detect_mps, lambda why: MpsInfo(present=False, reason=why)),
        browsers_probed=probe_browsers,
        browsers=_guard(_browsers, lambda why: []) if probe_browsers else [],
        detection_seconds=0.0,
    ).model_copy(update={"detection_seconds": round(time.monotonic() - started, 3)})


def _browsers() -> list[BrowserInfo]:
    return detect_browsers()


def _guard(probe: Callable[[], T], absent: Callable[[str], T]) -> T:
    # The probes already turn expected failures into reasons; this catches the unexpected
    # (a parser meeting output nobody recorded) so a worker still starts without that part.
    try:
        return probe()
    except Exception as exc:
        return absent(f"detection failed: {type(exc).__name__}: {exc}")


def _unknown_cpu(why: str) -> CpuInfo:
    return CpuInfo(model=f"unknown ({why})", arch=platform.machine(), logical_cores=1,
                   memory_gb=0.0)  # fmt: skip
