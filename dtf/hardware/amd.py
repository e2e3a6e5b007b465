"""Detects AMD GPUs by parsing `rocm-smi --json` (product name, VRAM, driver version)."""

from __future__ import annotations

import json
from typing import Any

from dtf.hardware.model import GpuDevice, GpuVendor
from dtf.hardware.tools import run_tool, skipped

ROCM_SMI_ARGS = ["--showproductname", "--showmeminfo", "vram", "--showdriverversion", "--json"]


def detect_amd() -> GpuVendor:
    """AMD GPUs as rocm-smi lists them; absent with the reason when it cannot."""
    if skipped("rocm-smi"):
        return GpuVendor(present=False, reason="rocm-smi: disabled by DTF_HARDWARE_SKIP")
    run = run_tool(["rocm-smi", *ROCM_SMI_ARGS])
    if not run.ok:
        return GpuVendor(present=False, reason=f"rocm-smi: {run.reason}")
    try:
        devices, driver = parse_rocm_smi(run.stdout)
    except ValueError as exc:
        return GpuVendor(present=False, reason=f"rocm-smi: unexpected output: {exc}")
    if not devices:
        return GpuVendor(present=False, reason="rocm-smi: lists no GPUs")
    return GpuVendor(present=True, source="rocm-smi", driver_version=driver, devices=devices)


def parse_rocm_smi(text: str) -> tuple[list[GpuDevice], str | None]:
    """Devices (one per "cardN" key) and the driver version from rocm-smi's JSON."""
    data = _json_object(text)
    system = _lower_keys(data.get("system") or {})
    cards = sorted((k for k in data if k.startswith("card")), key=lambda k: int(k[4:] or 0))
    devices = [_device(int(card[4:] or 0), _lower_keys(data[card])) for card in cards]
    return devices, system.get("driver version")


def _device(index: int, card: dict[str, str]) -> GpuDevice:
    # Key spelling changed between ROCm releases ("Card series" -> "Card Series"), hence
    # the lower-cased lookups; older releases give no GFX version.
    name = card.get("card series") or card.get("card model") or f"AMD GPU {index}"
    vram = card.get("vram total memory (b)")
    if vram is None:
        raise ValueError(f"card{index} has no 'VRAM Total Memory (B)'")
    return GpuDevice(
        index=index,
        name=name,
        memory_mb=int(vram) // 2**20,
        gfx=card.get("gfx version"),
        uuid=card.get("guid") or card.get("unique id"),
    )


def _json_object(text: str) -> dict[str, Any]:
    # Some releases print warnings before the JSON document.
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in the output")
    try:
        data = json.loads(text[start:])
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("the JSON document is not an object")
    return data


def _lower_keys(entry: dict[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in entry.items()}
