"""The hardware taxonomy: typed records of what one machine has, real or simulated."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BrowserKind = Literal["chromium", "chrome", "firefox"]
SCHEMA_VERSION = 1


class _Record(BaseModel):
    # Frozen so a published taxonomy cannot drift from what the worker advertised.
    model_config = ConfigDict(frozen=True, extra="forbid")


class Feature(_Record):
    """One capability that was probed: whether it works, and why not when it does not."""

    available: bool
    reason: str | None = None


class CpuInfo(_Record):
    """The host's processor and memory."""

    model: str
    vendor: str | None = None
    arch: str
    logical_cores: int
    physical_cores: int | None = None
    memory_gb: float
    isa: list[str] = Field(default_factory=list)
    simulated: bool = False


class GpuDevice(_Record):
    """One GPU as its vendor's tool or library reports it."""

    index: int
    name: str
    memory_mb: int
    compute_capability: str | None = None  # NVIDIA "8.0"; None when the driver cannot say
    gfx: str | None = None  # AMD target, e.g. "gfx90a"
    uuid: str | None = None

    @property
    def memory_gb(self) -> int:
        # Rounded, not floored: an "80GB" H100 reports 81559 MiB (79.6 GiB), an RTX 4090
        # 24564 MiB; needs are written as the marketed size, so 80 and 24 must match.
        return round(self.memory_mb / 1024)


class GpuVendor(_Record):
    """All GPUs of one vendor, or why none were found."""

    present: bool
    reason: str | None = None
    source: str | None = None  # "nvml", "nvidia-smi", "rocm-smi", "profile"
    driver_version: str | None = None
    runtime_version: str | None = None  # CUDA driver API version for NVIDIA
    devices: list[GpuDevice] = Field(default_factory=list)
    simulated: bool = False


class MpsInfo(_Record):
    """Apple's Metal Performance Shaders backend (Apple silicon, macOS 12.3 or later)."""

    present: bool
    reason: str | None = None
    chip: str | None = None
    macos_version: str | None = None
    simulated: bool = False


class WebGpu(_Record):
    """WebGPU as a page sees it: present only if requestAdapter() returned an adapter."""

    available: bool
    reason: str | None = None
    vendor: str | None = None
    architecture: str | None = None
    device: str | None = None
    description: str | None = None
    is_fallback: bool | None = None


class BrowserInfo(_Record):
    """A browser found on the machine and what a page in it can do."""

    kind: BrowserKind
    path: str
    version: str | None = None
    driver: str | None = None
    probed: bool = False
    reason: str | None = None  # why it was not probed, or why the probe failed
    flags: list[str] = Field(default_factory=list)
    webgpu: WebGpu = WebGpu(available=False, reason="not probed")
    webnn: Feature = Feature(available=False, reason="not probed")
    wasm_simd: Feature = Feature(available=False, reason="not probed")
    wasm_threads: Feature = Feature(available=False, reason="not probed")
    simulated: bool = False


class Taxonomy(_Record):
    """Everything dtf knows about one machine's hardware, as published to the scheduler."""

    schema_version: int = SCHEMA_VERSION
    host: str
    platform: str
    python: str
    detected_at: str
    detection_seconds: float
    cpu: CpuInfo
    nvidia: GpuVendor
    amd: GpuVendor
    mps: MpsInfo
    browsers_probed: bool
    browsers: list[BrowserInfo] = Field(default_factory=list)

    @property
    def simulated_parts(self) -> list[str]:
        """Which components are simulated (a rehearsal fleet), empty on real hardware."""
        parts = {
            "cpu": self.cpu.simulated,
            "nvidia": self.nvidia.simulated,
            "amd": self.amd.simulated,
            "mps": self.mps.simulated,
        }
        names = [name for name, flag in parts.items() if flag]
        return names + [f"browser_{b.kind}" for b in self.browsers if b.simulated]
