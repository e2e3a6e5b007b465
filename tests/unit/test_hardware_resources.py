"""Dask resources derived from a taxonomy, `k=v` overrides, and fleet profile files."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtf.cluster.fleetfile import load_fleet_profile
from dtf.errors import DtfError, HardwareError
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

REPO = Path(__file__).resolve().parents[2]
NO_GPU = GpuVendor(present=False, reason="none here")


def _taxonomy(**parts: object) -> Taxonomy:
    base: dict[str, object] = {
        "host": "h", "platform": "p", "python": "3.11", "detected_at": "", "detection_seconds": 0,
        "cpu": CpuInfo(model="m", arch="x86_64", logical_cores=16, memory_gb=64),
        "nvidia": NO_GPU, "amd": NO_GPU, "mps": MpsInfo(present=False), "browsers_probed": True,
    }  # fmt: skip
    return Taxonomy.model_validate({**base, **parts})


def _gpu(index: int, name: str, memory_mb: int, cc: str | None = None) -> GpuDevice:
    return GpuDevice(index=index, name=name, memory_mb=memory_mb, compute_capability=cc)


def _chromium(webgpu: WebGpu, probed: bool = True, webnn: bool = False) -> BrowserInfo:
    return BrowserInfo(
        kind="chromium", path="/usr/bin/chromium", probed=probed, webgpu=webgpu,
        webnn=Feature(available=webnn), wasm_simd=Feature(available=True),
        wasm_threads=Feature(available=False, reason="no"),
    )  # fmt: skip


def test_a_cpu_only_machine_advertises_its_cores() -> None:
    assert derive_resources(_taxonomy()) == {"cpu": 16.0}


def test_nvidia_gpus_give_count_lowest_capability_and_smallest_memory() -> None:
    nvidia = GpuVendor(present=True, devices=[_gpu(0, "RTX 4090", 24564, "8.9"),
                                              _gpu(1, "RTX 3060", 12288, "8.6")])  # fmt: skip
    assert derive_resources(_taxonomy(nvidia=nvidia)) == {
        "cpu": 16.0, "cuda": 2.0, "cuda_cc": 8.6, "gpu_mem_gb": 12.0,
    }  # fmt: skip


def test_an_unknown_compute_capability_advertises_no_cuda_cc() -> None:
    nvidia = GpuVendor(present=True, devices=[_gpu(0, "V100", 16160, None)])
    assert "cuda_cc" not in derive_resources(_taxonomy(nvidia=nvidia))


def test_amd_gpus_give_rocm_and_gpu_memory_and_mps_gives_mps() -> None:
    amd = GpuVendor(present=True, devices=[_gpu(0, "MI250", 65520), _gpu(1, "MI250", 65520)])
    res = derive_resources(_taxonomy(amd=amd, mps=MpsInfo(present=True)))
    assert res == {"cpu": 16.0, "rocm": 2.0, "gpu_mem_gb": 64.0, "mps": 1.0}


def test_a_fallback_webgpu_adapter_is_webgpu_but_not_webgpu_hw() -> None:
    browser = _chromium(WebGpu(available=True, architecture="swiftshader", is_fallback=True))
    res = derive_resources(_taxonomy(browsers=[browser]))
    assert res == {"cpu": 16.0, "browser_chromium": 16.0, "webgpu": 1.0, "wasm_simd": 1.0}


def test_a_hardware_adapter_and_a_webnn_context_are_advertised() -> None:
    browser = _chromium(WebGpu(available=True, is_fallback=False), webnn=True)
    res = derive_resources(_taxonomy(browsers=[browser]))
    assert res["webgpu_hw"] == 1.0
    assert res["webnn"] == 1.0


def test_a_browser_that_could_not_be_driven_advertises_nothing() -> None:
    browser = _chromium(WebGpu(available=True), probed=False)
    assert derive_resources(_taxonomy(browsers=[browser])) == {"cpu": 16.0}


def test_overrides_extend_replace_and_withdraw() -> None:
    overrides = parse_resources("cuda=0, cpu=4 license_matlab=1")
    assert overrides == {"cuda": 0.0, "cpu": 4.0, "license_matlab": 1.0}
    merged = merge_resources({"cpu": 16.0, "cuda": 1.0}, overrides)
    assert merged == {"cpu": 4.0, "license_matlab": 1.0}


@pytest.mark.parametrize(("text", "error"), [("cuda", "NAME=NUMBER"), ("cuda=one", "not a number"),
                                             ("=1", "NAME=NUMBER")])  # fmt: skip
def test_bad_resource_pairs_are_errors(text: str, error: str) -> None:
    with pytest.raises(HardwareError, match=error):
        parse_resources(text)


def test_the_rehearsal_profile_simulates_a_fleet_with_derived_resources() -> None:
    profiles = {p.name: p for p in load_fleet_profile(REPO / "examples/fleets/rehearsal.yaml")}
    assert list(profiles) == ["cpu-0", "cpu-1", "a100", "mi250", "chromium"]
    assert profiles["cpu-0"].resources == {"cpu": 1.0}
    assert profiles["cpu-0"].simulated == frozenset()
    a100 = profiles["a100"]
    assert a100.resources == {"cpu": 1.0, "cuda": 1.0, "cuda_cc": 8.0, "gpu_mem_gb": 80.0}
    assert a100.simulated == {"cuda", "cuda_cc", "gpu_mem_gb"}
    assert a100.taxonomy is not None and a100.taxonomy.simulated_parts == ["nvidia"]
    assert profiles["mi250"].resources == {"cpu": 1.0, "rocm": 2.0, "gpu_mem_gb": 64.0}
    chromium = profiles["chromium"]
    assert chromium.resources == {
        "cpu": 1.0, "browser_chromium": 1.0, "webgpu": 1.0, "wasm_simd": 1.0, "wasm_threads": 1.0,
    }  # fmt: skip
    assert chromium.taxonomy is not None
    assert chromium.taxonomy.browsers[0].webgpu.is_fallback is True


def test_profile_resources_override_and_count_as_simulated(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("workers:\n  - name: big\n    nthreads: 4\n    resources: {cuda: 8}\n")
    (big,) = load_fleet_profile(path)
    assert (big.resources, big.nthreads, big.simulated) == ({"cpu": 4.0, "cuda": 8.0}, 4,
                                                            frozenset({"cuda"}))  # fmt: skip


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("workers:\n  - name: a\n    nvidia:\n      - {name: X, memory_gb: 8, colour: red}\n",
         r"fleet.yaml:4: field 'workers\[a\].nvidia\[X\].colour': unknown key"),
        ("workers:\n  - name: a\n  - name: b\n    count: 0\n", r"fleet.yaml:4: .*count"),
        ("workers: []\n", r"fleet.yaml:1: field 'workers'"),
        ("workers:\n  - name: a\n  - name: a\n", r"two workers are named 'a'"),
        ("", "is empty"),
    ],
)  # fmt: skip
def test_profile_errors_name_the_file_line_and_field(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    with pytest.raises(DtfError, match=error):
        load_fleet_profile(path)
