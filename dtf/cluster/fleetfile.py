"""Reads a fleet profile (YAML) into local worker profiles with simulated hardware.

A profile lets one machine rehearse a fleet: each entry becomes one or more local Dask
workers whose GPUs, MPS and browsers are simulated, described by the same taxonomy real
workers publish, and whose resources come from the same derivation. The CPU is the real
one (its core count set by the entry), so CPU resources are never labelled simulated.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from dtf.cluster.profiles import CPU_RESOURCE, WorkerProfile
from dtf.errors import HardwareError
from dtf.hardware.cpu import detect_cpu
from dtf.hardware.model import (
    BrowserInfo,
    BrowserKind,
    CpuInfo,
    Feature,
    GpuDevice,
    GpuVendor,
    MpsInfo,
    Taxonomy,
    WebGpu,
)
from dtf.hardware.resources import derive_resources, merge_resources
from dtf.spec.load import parse_model, read_text

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
SIMULATED_PATH = "(simulated)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NvidiaGpu(_Strict):
    name: str
    memory_gb: float = Field(gt=0)
    compute_capability: str | None = Field(default=None, pattern=r"^\d+\.\d$")
    count: int = Field(default=1, ge=1)


class AmdGpu(_Strict):
    name: str
    memory_gb: float = Field(gt=0)
    gfx: str | None = None
    count: int = Field(default=1, ge=1)


class Browser(_Strict):
    kind: BrowserKind
    webgpu: bool = False
    fallback_adapter: bool = True  # like this machine's SwiftShader adapter
    webnn: bool = False
    wasm_simd: bool = True
    wasm_threads: bool = True


class WorkerEntry(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    count: int = Field(default=1, ge=1)
    nthreads: int = Field(default=1, ge=1)
    cores: int | None = Field(default=None, ge=1)  # the cpu resource; defaults to nthreads
    nvidia: list[NvidiaGpu] = Field(default_factory=list)
    amd: list[AmdGpu] = Field(default_factory=list)
    mps: bool = False
    browsers: list[Browser] = Field(default_factory=list)
    resources: dict[str, float] = Field(default_factory=dict)  # extra or overriding claims


class FleetProfile(_Strict):
    description: str | None = None
    workers: list[WorkerEntry] = Field(min_length=1)


def load_fleet_profile(path: Path) -> list[WorkerProfile]:
    """The local workers a profile file describes; errors name the file, line and field."""
    text = read_text(path, "fleet profile")
    fleet, _, _ = parse_model(text, str(path), FleetProfile, "is empty, expected 'workers'")
    cpu = detect_cpu()
    profiles = [p for entry in fleet.workers for p in _entry_profiles(entry, cpu)]
    names = [p.name for p in profiles]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise HardwareError(f"{path}: two workers are named '{duplicate}'")
    return profiles


def _entry_profiles(entry: WorkerEntry, cpu: CpuInfo) -> list[WorkerProfile]:
    tax = simulated_taxonomy(entry, cpu)
    derived = derive_resources(tax)
    resources = merge_resources(derived, entry.resources)
    claimed = {k for k in resources if k != CPU_RESOURCE and k in entry.resources}
    simulated = frozenset(claimed | {k for k in derived if k != CPU_RESOURCE})
    names = [entry.name] if entry.count == 1 else [f"{entry.name}-{i}" for i in range(entry.count)]
    return [WorkerProfile(n, resources, simulated, tax, entry.nthreads) for n in names]


def simulated_taxonomy(entry: WorkerEntry, cpu: CpuInfo) -> Taxonomy:
    """The taxonomy a worker of this entry publishes: real CPU, simulated everything else."""
    cores = entry.cores or entry.nthreads
    return Taxonomy(
        host=SIMULATED_PATH,
        platform=SIMULATED_PATH,
        python="",
        detected_at="",
        detection_seconds=0.0,
        cpu=cpu.model_copy(update={"logical_cores": cores, "physical_cores": None}),
        nvidia=_vendor([_nvidia_device(g) for g in entry.nvidia for _ in range(g.count)]),
        amd=_vendor([_amd_device(g) for g in entry.amd for _ in range(g.count)]),
        mps=MpsInfo(present=entry.mps, simulated=entry.mps, reason=_absent(entry.mps)),
        browsers_probed=bool(entry.browsers),
        browsers=[_browser(b) for b in entry.browsers],
    )


def _absent(present: bool) -> str | None:
    return None if present else "not in the profile"


def _vendor(devices: list[GpuDevice]) -> GpuVendor:
    devices = [d.model_copy(update={"index": i}) for i, d in enumerate(devices)]
    if not devices:
        return GpuVendor(present=False, reason="not in the profile")
    return GpuVendor(present=True, source="profile", devices=devices, simulated=True)


def _nvidia_device(gpu: NvidiaGpu) -> GpuDevice:
    return GpuDevice(index=0, name=gpu.name, memory_mb=round(gpu.memory_gb * 1024),
                     compute_capability=gpu.compute_capability)  # fmt: skip


def _amd_device(gpu: AmdGpu) -> GpuDevice:
    return GpuDevice(index=0, name=gpu.name, memory_mb=round(gpu.memory_gb * 1024), gfx=gpu.gfx)


def _browser(spec: Browser) -> BrowserInfo:
    absent = "not in the profile"
    webgpu = (WebGpu(available=True, vendor="simulated", is_fallback=spec.fallback_adapter)
              if spec.webgpu else WebGpu(available=False, reason=absent))  # fmt: skip
    return BrowserInfo(
        kind=spec.kind, path=SIMULATED_PATH, probed=True, simulated=True, webgpu=webgpu,
        webnn=Feature(available=spec.webnn, reason=None if spec.webnn else absent),
        wasm_simd=Feature(available=spec.wasm_simd),
        wasm_threads=Feature(available=spec.wasm_threads),
    )  # fmt: skip
