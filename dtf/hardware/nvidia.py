"""Detects NVIDIA GPUs through NVML (nvidia-ml-py), falling back to parsing nvidia-smi."""

from __future__ import annotations

import re
from typing import Any

from dtf.hardware.model import GpuDevice, GpuVendor
from dtf.hardware.tools import run_tool, skipped

SMI_FIELDS = "index,uuid,name,memory.total,compute_cap,driver_version"
# Drivers before 510 reject `compute_cap`; ask again without it rather than see no GPU.
SMI_LEGACY_FIELDS = "index,uuid,name,memory.total,driver_version"
SMI_FORMAT = "--format=csv,noheader,nounits"
_CUDA_VERSION = re.compile(r"CUDA Version:\s*([0-9][0-9.]*)")


def detect_nvidia() -> GpuVendor:
    """NVIDIA GPUs from NVML, else from nvidia-smi; absent with both reasons if neither works."""
    nvml = GpuVendor(present=False, reason="NVML: disabled by DTF_HARDWARE_SKIP")
    if not skipped("nvml"):
        nvml = _guarded_nvml()
        if nvml.present:
            return nvml
    if skipped("nvidia-smi"):
        return nvml
    smi = from_nvidia_smi()
    if smi.present:
        return smi
    return GpuVendor(present=False, reason=f"{nvml.reason}; {smi.reason}")


def _guarded_nvml() -> GpuVendor:
    try:
        return from_nvml()
    except Exception as exc:  # pynvml raises NVMLError subclasses and, when broken, anything
        return GpuVendor(present=False, reason=f"NVML: {type(exc).__name__}: {exc}")


def from_nvml() -> GpuVendor:
    """Query NVML through pynvml (package nvidia-ml-py); raises whatever NVML raises."""
    import pynvml

    pynvml.nvmlInit()
    try:
        count = pynvml.nvmlDeviceGetCount()
        devices = [_nvml_device(pynvml, i) for i in range(count)]
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        cuda = cuda_version_text(pynvml.nvmlSystemGetCudaDriverVersion())
    finally:
        pynvml.nvmlShutdown()
    if not devices:
        return GpuVendor(present=False, reason="NVML: the driver reports no GPUs")
    return GpuVendor(
        present=True, source="nvml", driver_version=driver, runtime_version=cuda, devices=devices
    )


def _nvml_device(pynvml: Any, index: int) -> GpuDevice:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
    return GpuDevice(
        index=index,
        name=_text(pynvml.nvmlDeviceGetName(handle)),
        memory_mb=int(pynvml.nvmlDeviceGetMemoryInfo(handle).total) // 2**20,
        compute_capability=f"{major}.{minor}",
        uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
    )


def cuda_version_text(version: int) -> str:
    """NVML's integer CUDA version (12040) as people write it ("12.4")."""
    return f"{version // 1000}.{(version % 1000) // 10}"


def _text(value: str | bytes) -> str:
    # nvidia-ml-py returned bytes before 11.5 and str since; accept both.
    return value.decode() if isinstance(value, bytes) else str(value)


def from_nvidia_smi() -> GpuVendor:
    """Parse `nvidia-smi --query-gpu` (and its banner for the CUDA version)."""
    run = run_tool(["nvidia-smi", f"--query-gpu={SMI_FIELDS}", SMI_FORMAT])
    fields = SMI_FIELDS
    if not run.ok and "compute_cap" in run.stdout + (run.reason or ""):
        run = run_tool(["nvidia-smi", f"--query-gpu={SMI_LEGACY_FIELDS}", SMI_FORMAT])
        fields = SMI_LEGACY_FIELDS
    if not run.ok:
        return GpuVendor(present=False, reason=f"nvidia-smi: {run.reason}")
    try:
        devices, driver = parse_smi_csv(run.stdout, fields.split(","))
    except ValueError as exc:
        return GpuVendor(present=False, reason=f"nvidia-smi: unexpected output: {exc}")
    if not devices:
        return GpuVendor(present=False, reason="nvidia-smi: lists no GPUs")
    banner = run_tool(["nvidia-smi"])
    return GpuVendor(
        present=True,
        source="nvidia-smi",
        driver_version=driver,
        runtime_version=parse_cuda_version(banner.stdout),
        devices=devices,
    )


def parse_smi_csv(text: str, fields: list[str]) -> tuple[list[GpuDevice], str | None]:
    """Devices and driver version from `--format=csv,noheader,nounits` output of `fields`."""
    devices: list[GpuDevice] = []
    driver = None
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        values = [v.strip() for v in line.split(",")]
        if len(values) != len(fields):
            raise ValueError(f"expected {len(fields)} fields, got {line!r}")
        row = dict(zip(fields, values, strict=True))
        driver = row.get("driver_version") or driver
        devices.append(
            GpuDevice(
                index=int(row["index"]),
                name=row["name"],
                memory_mb=int(float(row["memory.total"])),
                compute_capability=_known(row.get("compute_cap")),
                uuid=_known(row.get("uuid")),
            )
        )
    return devices, driver


def parse_cuda_version(banner: str) -> str | None:
    found = _CUDA_VERSION.search(banner)
    return found.group(1) if found else None


def _known(value: str | None) -> str | None:
    # nvidia-smi prints "[N/A]" or "[Not Supported]" for fields a device cannot report.
    return None if value is None or value.startswith("[") else value
