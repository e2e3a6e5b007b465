"""Derives a worker's Dask resources from its taxonomy, and parses `k=v,...` overrides."""

from __future__ import annotations

from collections.abc import Mapping

from dtf.errors import HardwareError
from dtf.hardware.model import GpuDevice, Taxonomy


def derive_resources(tax: Taxonomy) -> dict[str, float]:
    """The resources a worker with this hardware advertises.

    cpu=<usable cores>; cuda=<NVIDIA GPUs>, cuda_cc=<lowest compute capability>;
    rocm=<AMD GPUs>; gpu_mem_gb=<smallest GPU's memory>; mps=1; browser_<kind>=<cores> for
    each browser Selenium could drive (one concurrent session per core); webgpu=1 when an
    adapter was returned, webgpu_hw=1 when one was not a fallback (software) adapter;
    webnn=1, wasm_simd=1, wasm_threads=1 when a driven browser supports them.
    """
    cores = float(tax.cpu.logical_cores)
    res: dict[str, float] = {"cpu": cores}
    gpus: list[GpuDevice] = []
    if tax.nvidia.present and tax.nvidia.devices:
        res["cuda"] = float(len(tax.nvidia.devices))
        capabilities = [float(d.compute_capability) for d in tax.nvidia.devices
                        if d.compute_capability]  # fmt: skip
        if len(capabilities) == len(tax.nvidia.devices):
            res["cuda_cc"] = min(capabilities)
        gpus += tax.nvidia.devices
    if tax.amd.present and tax.amd.devices:
        res["rocm"] = float(len(tax.amd.devices))
        gpus += tax.amd.devices
    if gpus:
        # The smallest GPU: a shard pinned to "a GPU" may land on any of them.
        res["gpu_mem_gb"] = float(min(d.memory_gb for d in gpus))
    if tax.mps.present:
        res["mps"] = 1.0
    res.update(_browser_resources(tax, cores))
    return res


def _browser_resources(tax: Taxonomy, cores: float) -> dict[str, float]:
    res: dict[str, float] = {}
    for browser in tax.browsers:
        if not browser.probed:
            continue  # a browser Selenium cannot drive cannot run a browser suite
        res[f"browser_{browser.kind}"] = cores
        if browser.webgpu.available:
            res["webgpu"] = 1.0
            if browser.webgpu.is_fallback is False:
                res["webgpu_hw"] = 1.0
        for feature in ("webnn", "wasm_simd", "wasm_threads"):
            if getattr(browser, feature).available:
                res[feature] = 1.0
    return res


def parse_resources(text: str) -> dict[str, float]:
    """`cuda=1,gpu_mem_gb=24` (commas or spaces) as a mapping; a bad pair is an error."""
    out: dict[str, float] = {}
    for pair in text.replace(",", " ").split():
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise HardwareError(f"resource {pair!r} is not NAME=NUMBER")
        try:
            out[name] = float(value)
        except ValueError:
            raise HardwareError(f"resource {pair!r}: {value!r} is not a number") from None
    return out


def merge_resources(
    detected: Mapping[str, float], overrides: Mapping[str, float]
) -> dict[str, float]:
    """Detected resources with overrides applied; an override of 0 withdraws a resource."""
    merged = {**detected, **overrides}
    return {name: amount for name, amount in merged.items() if amount > 0}


def resources_arg(resources: Mapping[str, float]) -> str:
    """The `--resources` value `dask worker` accepts."""
    return ",".join(f"{k}={v:g}" for k, v in sorted(resources.items()))
