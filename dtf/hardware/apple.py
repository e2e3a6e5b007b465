"""Detects Apple's MPS backend: Apple silicon running macOS 12.3 or later."""

from __future__ import annotations

import platform

from dtf.hardware.model import MpsInfo
from dtf.hardware.tools import run_tool, skipped

MIN_MACOS = (12, 3)  # the first release with the MPS backend PyTorch uses


def detect_mps() -> MpsInfo:
    if skipped("mps"):
        return MpsInfo(present=False, reason="disabled by DTF_HARDWARE_SKIP")
    info = mps_for(platform.system(), platform.machine(), platform.mac_ver()[0])
    if info.present:
        chip = run_tool(["sysctl", "-n", "machdep.cpu.brand_string"]).stdout.strip()
        info = info.model_copy(update={"chip": chip or None})
    return info


def mps_for(system: str, machine: str, macos: str) -> MpsInfo:
    """Whether a machine with this OS, architecture and macOS version offers MPS."""
    if system != "Darwin":
        return MpsInfo(present=False, reason=f"not macOS ({system})")
    if machine != "arm64":
        return MpsInfo(present=False, reason=f"not Apple silicon ({machine})", macos_version=macos)
    if _version(macos) < MIN_MACOS:
        return MpsInfo(present=False, reason=f"macOS {macos} predates 12.3", macos_version=macos)
    return MpsInfo(present=True, macos_version=macos)


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)
