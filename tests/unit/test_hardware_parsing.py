"""Parsers of the hardware taxonomy: /proc/cpuinfo, nvidia-smi CSV, rocm-smi JSON, macOS checks."""

from __future__ import annotations

import pytest

from dtf.hardware.amd import parse_rocm_smi
from dtf.hardware.apple import mps_for
from dtf.hardware.cpu import notable_isa, parse_cpuinfo
from dtf.hardware.model import GpuDevice
from dtf.hardware.nvidia import (
    SMI_FIELDS,
    SMI_LEGACY_FIELDS,
    cuda_version_text,
    parse_cuda_version,
    parse_smi_csv,
)

X86_CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512bw amx_tile amx_bf16 sha_ni

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512bw amx_tile amx_bf16 sha_ni
"""

ARM_CPUINFO = """\
processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimdhp asimddp sve sve2 i8mm bf16
CPU implementer\t: 0x41
"""


def test_x86_cpuinfo_gives_model_vendor_and_the_notable_isa_in_a_fixed_order() -> None:
    model, vendor, flags = parse_cpuinfo(X86_CPUINFO)
    assert model == "Intel(R) Xeon(R) Platinum 8480+"
    assert vendor == "GenuineIntel"
    assert notable_isa(flags) == [
        "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "amx_tile", "amx_bf16", "sha_ni",
    ]  # fmt: skip


def test_arm_cpuinfo_reads_the_features_line_and_has_no_model_name() -> None:
    model, vendor, flags = parse_cpuinfo(ARM_CPUINFO)
    assert model is None
    assert vendor == "0x41"
    assert notable_isa(flags) == ["aes", "asimd", "asimdhp", "asimddp", "sve", "sve2", "bf16",
                                  "i8mm"]  # fmt: skip


def test_empty_cpuinfo_is_not_an_error() -> None:
    assert parse_cpuinfo("") == (None, None, set())


def test_nvidia_smi_csv_rows_become_devices_with_the_driver_version() -> None:
    text = (
        "0, GPU-aa, NVIDIA H100 80GB HBM3, 81559, 9.0, 550.54.15\n"
        "1, GPU-bb, NVIDIA GeForce RTX 4090, 24564, 8.9, 550.54.15\n"
    )
    devices, driver = parse_smi_csv(text, SMI_FIELDS.split(","))
    assert driver == "550.54.15"
    assert [(d.index, d.name, d.memory_mb, d.compute_capability, d.uuid) for d in devices] == [
        (0, "NVIDIA H100 80GB HBM3", 81559, "9.0", "GPU-aa"),
        (1, "NVIDIA GeForce RTX 4090", 24564, "8.9", "GPU-bb"),
    ]


def test_nvidia_smi_not_available_markers_become_none() -> None:
    devices, _ = parse_smi_csv("0, [N/A], Tesla T4, 15360, [Not Supported], 470.1\n",
                               SMI_FIELDS.split(","))  # fmt: skip
    assert devices[0].uuid is None
    assert devices[0].compute_capability is None


def test_nvidia_smi_legacy_fields_have_no_compute_capability() -> None:
    devices, driver = parse_smi_csv("0, GPU-cc, Tesla V100-SXM2-16GB, 16160, 470.82.01",
                                    SMI_LEGACY_FIELDS.split(","))  # fmt: skip
    assert devices[0].compute_capability is None
    assert driver == "470.82.01"


def test_nvidia_smi_row_with_the_wrong_field_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="expected 6 fields"):
        parse_smi_csv("Failed to initialize NVML: Unknown Error", SMI_FIELDS.split(","))


def test_cuda_version_from_the_banner_and_from_nvml_integers() -> None:
    banner = "| NVIDIA-SMI 570.86.15   Driver Version: 570.86.15   CUDA Version: 12.8     |"
    assert parse_cuda_version(banner) == "12.8"
    assert parse_cuda_version("No devices were found") is None
    assert cuda_version_text(12040) == "12.4"
    assert cuda_version_text(11080) == "11.8"


@pytest.mark.parametrize(
    ("memory_mb", "marketed_gb"),
    [(81559, 80), (81920, 80), (24564, 24), (16160, 16), (12288, 12), (65520, 64)],
)
def test_gpu_memory_rounds_to_the_marketed_size(memory_mb: int, marketed_gb: int) -> None:
    assert GpuDevice(index=0, name="x", memory_mb=memory_mb).memory_gb == marketed_gb


def test_rocm_smi_json_with_rocm5_keys_and_a_system_driver_entry() -> None:
    text = (
        '{"card1": {"Card series": "MI250", "VRAM Total Memory (B)": "68702699520"},'
        ' "card0": {"Card series": "MI250", "VRAM Total Memory (B)": "68702699520"},'
        ' "system": {"Driver version": "6.2.4"}}'
    )
    devices, driver = parse_rocm_smi(text)
    assert driver == "6.2.4"
    assert [(d.index, d.name, d.memory_gb, d.gfx) for d in devices] == [
        (0, "MI250", 64, None),
        (1, "MI250", 64, None),
    ]


def test_rocm_smi_json_after_a_warning_line_with_rocm6_keys() -> None:
    text = (
        "WARNING: AMD GPU device(s) is/are in a low-power state.\n\n"
        '{"card0": {"Card Series": "AMD Instinct MI300X", "GFX Version": "gfx942",'
        ' "VRAM Total Memory (B)": "206141652992", "GUID": "28851"}}'
    )
    devices, driver = parse_rocm_smi(text)
    assert driver is None
    assert (devices[0].name, devices[0].memory_gb, devices[0].gfx, devices[0].uuid) == (
        "AMD Instinct MI300X", 192, "gfx942", "28851",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("ERROR: driver not initialized", "no JSON object"),
        ('{"card0": {"Card Series": "X"}}', "VRAM Total Memory"),
        ("{not json", "invalid JSON"),
    ],
)
def test_rocm_smi_output_that_is_not_the_expected_json_is_rejected(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_rocm_smi(text)


@pytest.mark.parametrize(
    ("system", "machine", "macos", "present", "reason"),
    [
        ("Darwin", "arm64", "14.5", True, None),
        ("Darwin", "arm64", "12.3", True, None),
        ("Darwin", "arm64", "12.2.1", False, "macOS 12.2.1 predates 12.3"),
        ("Darwin", "x86_64", "14.5", False, "not Apple silicon (x86_64)"),
        ("Linux", "aarch64", "", False, "not macOS (Linux)"),
    ],
)
def test_mps_needs_apple_silicon_on_macos_12_3_or_later(
    system: str, machine: str, macos: str, present: bool, reason: str | None
) -> None:
    info = mps_for(system, machine, macos)
    assert (info.present, info.reason) == (present, reason)
