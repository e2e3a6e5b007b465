"""The hardware taxonomy: what a machine has, detected at worker start, and its Dask resources."""

from __future__ import annotations

from dtf.hardware.detect import detect
from dtf.hardware.model import (
    BrowserInfo,
    CpuInfo,
    Feature,
    GpuDevice,
    GpuVendor,
    MpsInfo,
    Taxonomy,
    WebGpu,
)
from dtf.hardware.resources import derive_resources, merge_resources, parse_resources

__all__ = [
    "BrowserInfo",
    "CpuInfo",
    "Feature",
    "GpuDevice",
    "GpuVendor",
    "MpsInfo",
    "Taxonomy",
    "WebGpu",
    "derive_resources",
    "detect",
    "merge_resources",
    "parse_resources",
]
