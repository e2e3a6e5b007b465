"""Runs vendor tools (nvidia-smi, rocm-smi, browsers) for detection without ever raising."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

SKIP_ENV = "DTF_HARDWARE_SKIP"
TOOL_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class ToolRun:
    """What a tool printed, or why it could not be used (`reason` is set exactly then)."""

    stdout: str = ""
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def run_tool(argv: Sequence[str], timeout: float = TOOL_TIMEOUT_SECONDS) -> ToolRun:
    """Run `argv` (found on PATH) and return its output; failures become a reason."""
    exe = shutil.which(argv[0])
    if exe is None:
        return ToolRun(reason=f"{argv[0]} not found on PATH")
    try:
        proc = subprocess.run(
            [exe, *argv[1:]],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ToolRun(reason=f"{argv[0]} did not answer within {timeout:g}s")
    except OSError as exc:
        return ToolRun(reason=f"{argv[0]} could not be run: {exc}")
    if proc.returncode != 0:
        said = first_line(proc.stdout) or first_line(proc.stderr) or "no output"
        return ToolRun(proc.stdout, f"{argv[0]} exited {proc.returncode}: {said}")
    return ToolRun(proc.stdout)


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def skipped(probe: str) -> bool:
    """Whether $DTF_HARDWARE_SKIP (comma-separated probe names) turns `probe` off.

    Probes: nvml, nvidia-smi, rocm-smi, mps, browsers. Used to rehearse fallbacks (NVML
    unavailable) and to keep slow probes out of quick starts.
    """
    names = {n.strip() for n in os.environ.get(SKIP_ENV, "").split(",")}
    return probe in names
