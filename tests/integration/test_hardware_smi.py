"""GPU detection through real nvidia-smi/rocm-smi executables (fakes replaying recorded output).

NVML is switched off with DTF_HARDWARE_SKIP=nvml so the nvidia-smi fallback is what runs,
as on a host whose NVML library is missing or broken.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dtf.hardware.amd import detect_amd
from dtf.hardware.nvidia import detect_nvidia, from_nvidia_smi, from_nvml
from dtf.hardware.resources import derive_resources

FAKE_SMI = Path(__file__).resolve().parents[1] / "fixtures" / "fake_smi"


@pytest.fixture
def fake_smi(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", f"{FAKE_SMI}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DTF_HARDWARE_SKIP", "nvml")
    return FAKE_SMI


@pytest.mark.parametrize(
    ("recording", "names", "memory_gb", "capabilities", "driver", "cuda"),
    [
        ("a100-80gb-x2", ["NVIDIA A100-SXM4-80GB"] * 2, [80, 80], ["8.0", "8.0"],
         "535.129.03", "12.2"),
        ("h100-sxm", ["NVIDIA H100 80GB HBM3"], [80], ["9.0"], "550.54.15", "12.4"),
        ("rtx4090-rtx3060", ["NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 3060"], [24, 12],
         ["8.9", "8.6"], "560.35.03", "12.6"),
        ("v100-driver-470", ["Tesla V100-SXM2-16GB"], [16], [None], "470.82.01", "11.4"),
    ],
)  # fmt: skip
def test_nvidia_smi_recordings_are_detected(
    fake_smi: Path,
    monkeypatch: pytest.MonkeyPatch,
    recording: str,
    names: list[str],
    memory_gb: list[int],
    capabilities: list[str | None],
    driver: str,
    cuda: str,
) -> None:
    monkeypatch.setenv("FAKE_NVIDIA_SMI", recording)
    found = detect_nvidia()
    assert found.present, found.reason
    assert found.source == "nvidia-smi"
    assert [d.name for d in found.devices] == names
    assert [d.memory_gb for d in found.devices] == memory_gb
    assert [d.compute_capability for d in found.devices] == capabilities
    assert (found.driver_version, found.runtime_version) == (driver, cuda)


@pytest.mark.parametrize(
    ("recording", "reason"),
    [
        ("driver-mismatch", "nvidia-smi exited 18: Failed to initialize NVML: Driver/library "
                            "version mismatch"),
        ("no-devices", "nvidia-smi exited 6: No devices were found"),
    ],
)  # fmt: skip
def test_a_failing_nvidia_smi_reports_absent_with_both_reasons(
    fake_smi: Path, monkeypatch: pytest.MonkeyPatch, recording: str, reason: str
) -> None:
    monkeypatch.setenv("FAKE_NVIDIA_SMI", recording)
    found = detect_nvidia()
    assert not found.present
    assert found.reason == f"NVML: disabled by DTF_HARDWARE_SKIP; nvidia-smi: {reason}"


def test_without_nvidia_smi_on_path_nvidia_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    monkeypatch.setenv("DTF_HARDWARE_SKIP", "nvml")
    found = detect_nvidia()
    assert not found.present
    assert found.reason is not None and "nvidia-smi not found on PATH" in found.reason


@pytest.mark.parametrize(
    ("recording", "names", "memory_gb", "gfx", "driver"),
    [
        ("mi250", ["AMD INSTINCT MI250 (MCM) OAM AC MBA"] * 2, [64, 64], [None, None], "6.2.4"),
        ("mi300x", ["AMD Instinct MI300X"], [192], ["gfx942"], "6.7.0"),
        ("rx7900xtx", ["Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]"], [24],
         ["gfx1100"], "6.8.0-45-generic"),
    ],
)  # fmt: skip
def test_rocm_smi_recordings_are_detected(
    fake_smi: Path,
    monkeypatch: pytest.MonkeyPatch,
    recording: str,
    names: list[str],
    memory_gb: list[int],
    gfx: list[str | None],
    driver: str,
) -> None:
    monkeypatch.setenv("FAKE_ROCM_SMI", recording)
    found = detect_amd()
    assert found.present, found.reason
    assert [d.name for d in found.devices] == names
    assert [d.memory_gb for d in found.devices] == memory_gb
    assert [d.gfx for d in found.devices] == gfx
    assert found.driver_version == driver


def test_rocm_smi_without_a_driver_reports_absent(
    fake_smi: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_ROCM_SMI", "no-driver")
    found = detect_amd()
    assert not found.present
    assert found.reason == (
        "rocm-smi: rocm-smi exited 1: ERROR:root:Driver not initialized (amdgpu not found in "
        "modules)"
    )


def test_python_m_dtf_hardware_prints_the_taxonomy_and_resources(fake_smi: Path) -> None:
    # The command a GPU host runs to check detection: a separate process, real PATH lookup.
    env = {**os.environ, "FAKE_NVIDIA_SMI": "h100-sxm", "FAKE_ROCM_SMI": "mi250"}
    proc = subprocess.run(
        [sys.executable, "-m", "dtf.hardware", "--no-browsers"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    out = json.loads(proc.stdout)
    assert out["taxonomy"]["nvidia"]["devices"][0]["name"] == "NVIDIA H100 80GB HBM3"
    assert out["taxonomy"]["browsers_probed"] is False
    resources = out["resources"]
    assert {k: resources[k] for k in ("cuda", "cuda_cc", "rocm", "gpu_mem_gb")} == {
        "cuda": 1.0, "cuda_cc": 9.0, "rocm": 2.0, "gpu_mem_gb": 64.0,
    }  # fmt: skip


def test_derived_resources_of_a_mixed_nvidia_host(
    fake_smi: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dtf.hardware.detect import detect

    monkeypatch.setenv("FAKE_NVIDIA_SMI", "rtx4090-rtx3060")
    monkeypatch.setenv("FAKE_ROCM_SMI", "no-driver")
    res = derive_resources(detect(browsers=False))
    assert {k: v for k, v in res.items() if k != "cpu"} == {
        "cuda": 2.0, "cuda_cc": 8.6, "gpu_mem_gb": 12.0,
    }  # fmt: skip


def test_dtf_hardware_prints_a_table_and_json(fake_smi: Path) -> None:
    dtf = str(Path(sys.executable).with_name("dtf"))
    env = {**os.environ, "FAKE_NVIDIA_SMI": "h100-sxm", "FAKE_ROCM_SMI": "no-driver",
           "COLUMNS": "300"}  # fmt: skip
    table = subprocess.run([dtf, "hardware", "--no-browsers"], env=env, capture_output=True,
                           text=True, timeout=120, check=True).stdout  # fmt: skip
    assert "0: NVIDIA H100 80GB HBM3 80 GB cc 9.0 (via nvidia-smi, driver 550.54.15, runtime " \
           "12.4)" in table  # fmt: skip
    assert "rocm-smi exited 1: ERROR:root:Driver not initialized" in table
    assert "--no-browsers or DTF_HARDWARE_SKIP" in table
    assert "resources: cpu=" in table and "cuda=1,cuda_cc=9,gpu_mem_gb=80" in table
    out = json.loads(subprocess.run([dtf, "hardware", "--json", "--no-browsers"], env=env,
                                    capture_output=True, text=True, timeout=120,
                                    check=True).stdout)  # fmt: skip
    assert out["taxonomy"]["nvidia"]["runtime_version"] == "12.4"
    assert out["resources"]["gpu_mem_gb"] == 80.0


def _nvml_works() -> bool:
    try:
        from_nvml()
    except Exception:
        return False
    return True


NVML_WORKS = _nvml_works()


@pytest.mark.skipif(NVML_WORKS, reason="NVML works on this host; see the agreement test")
def test_without_nvml_or_nvidia_smi_both_reasons_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    monkeypatch.delenv("DTF_HARDWARE_SKIP", raising=False)
    found = detect_nvidia()
    assert not found.present
    assert found.reason is not None
    assert found.reason.startswith("NVML: NVMLError")
    assert found.reason.endswith("; nvidia-smi: nvidia-smi not found on PATH")


@pytest.mark.skipif(
    not NVML_WORKS or shutil.which("nvidia-smi") is None,
    reason="needs an NVIDIA GPU with NVML and nvidia-smi (run on a GPU host)",
)
def test_nvml_and_the_real_nvidia_smi_agree() -> None:
    nvml, smi = from_nvml(), from_nvidia_smi()
    assert [(d.name, d.uuid, d.compute_capability) for d in nvml.devices] == [
        (d.name, d.uuid, d.compute_capability) for d in smi.devices
    ]
    assert [d.memory_gb for d in nvml.devices] == [d.memory_gb for d in smi.devices]
    assert nvml.driver_version == smi.driver_version
    assert nvml.runtime_version == smi.runtime_version
