"""Detects the CPU: model, cores, memory and the instruction sets tests care about."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from pathlib import Path

import psutil

from dtf.hardware.model import CpuInfo
from dtf.hardware.tools import run_tool

# The flags that decide whether numeric kernels run (x86 and Arm spellings); the full
# /proc/cpuinfo list has well over a hundred entries that no test selects on.
NOTABLE_ISA = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "aes",
    "sha_ni", "neon", "asimd", "asimdhp", "asimddp", "sve", "sve2", "bf16", "i8mm",
)  # fmt: skip


def detect_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    """This machine's CPU; fields a platform cannot report are left empty, never guessed."""
    model, vendor, flags = parse_cpuinfo(_read(cpuinfo))
    if not model and platform.system() == "Darwin":
        model = run_tool(["sysctl", "-n", "machdep.cpu.brand_string"]).stdout.strip()
    return CpuInfo(
        model=model or platform.processor() or platform.machine() or "unknown",
        vendor=vendor,
        arch=platform.machine(),
        logical_cores=usable_cores(),
        physical_cores=psutil.cpu_count(logical=False),
        memory_gb=round(psutil.virtual_memory().total / 2**30, 1),
        isa=notable_isa(flags),
    )


def parse_cpuinfo(text: str) -> tuple[str | None, str | None, set[str]]:
    """(model, vendor, flags) from /proc/cpuinfo text (x86 'flags' or Arm 'Features')."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    model = fields.get("model name") or fields.get("Model") or fields.get("Hardware")
    vendor = fields.get("vendor_id") or fields.get("CPU implementer")
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    return model or None, vendor or None, flags


def notable_isa(flags: Iterable[str]) -> list[str]:
    present = set(flags)
    return [name for name in NOTABLE_ISA if name in present]


def usable_cores() -> int:
    # The affinity mask, not the host's count: a container limited to 4 of 64 cores
    # must advertise cpu=4.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity API
        return os.cpu_count() or 1


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
