"""A real local cluster started from a simulated fleet profile: taxonomy, placement, status."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client

from dtf.cluster.fleet import WorkerInfo, live_workers
from dtf.cluster.fleetfile import load_fleet_profile
from dtf.cluster.identity import WorkerIdentity, current_worker
from dtf.cluster.local import ClusterInfo, ensure_cluster, stop_cluster
from dtf.planning.placement import unplaceable
from dtf.planning.shards import Shard

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "examples" / "fleets" / "rehearsal.yaml"
GPU_WORKERS = {"a100"}


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ClusterInfo]]:
    home = tmp_path_factory.mktemp("rehearsal-home")
    info = ensure_cluster(home, load_fleet_profile(PROFILE), {})
    try:
        yield home, info
    finally:
        stop_cluster(home)


@pytest.fixture(scope="module")
def fleet(rehearsal: tuple[Path, ClusterInfo]) -> dict[str, WorkerInfo]:
    return {w.name: w for w in live_workers(rehearsal[1].address)}


def test_every_worker_publishes_its_simulated_taxonomy(fleet: dict[str, WorkerInfo]) -> None:
    assert sorted(fleet) == ["a100", "chromium", "cpu-0", "cpu-1", "mi250"]
    hardware = {name: w.hardware for name, w in fleet.items()}
    assert all(tax is not None for tax in hardware.values()), "a worker published no taxonomy"
    a100, mi250 = hardware["a100"], hardware["mi250"]
    assert a100 is not None and mi250 is not None
    assert [d.name for d in a100.nvidia.devices] == ["NVIDIA A100-SXM4-80GB"]
    assert [d.gfx for d in mi250.amd.devices] == ["gfx90a", "gfx90a"]
    assert {name: tax.simulated_parts for name, tax in hardware.items() if tax} == {
        "a100": ["nvidia"], "mi250": ["amd"], "chromium": ["browser_chromium"],
        "cpu-0": [], "cpu-1": [],
    }  # fmt: skip
    assert {name: w.simulated for name, w in fleet.items()} == {
        "a100": ("cuda", "cuda_cc", "gpu_mem_gb"), "mi250": ("gpu_mem_gb", "rocm"),
        "chromium": ("browser_chromium", "wasm_simd", "wasm_threads", "webgpu"),
        "cpu-0": (), "cpu-1": (),
    }  # fmt: skip
    assert fleet["a100"].resources == {"cpu": 1, "cuda": 1, "cuda_cc": 8.0, "gpu_mem_gb": 80}
    assert fleet["mi250"].resources == {"cpu": 1, "rocm": 2, "gpu_mem_gb": 64}


def test_200_tasks_run_only_on_workers_that_offer_their_resources(
    rehearsal: tuple[Path, ClusterInfo],
) -> None:
    wanted = {"cuda": 60, "rocm": 40, "webgpu": 40, "cpu": 60}
    with Client(rehearsal[1].address, set_as_default=False, timeout=30) as client:
        futures = {
            need: [
                client.submit(current_worker, pure=False, resources={need: 1}) for _ in range(count)
            ]
            for need, count in wanted.items()
        }
        ran: dict[str, list[WorkerIdentity]] = {
            need: client.gather(batch) for need, batch in futures.items()
        }
    where = {need: Counter(w.name for w in ids) for need, ids in ran.items()}
    assert where["cuda"] == {"a100": 60}
    assert where["rocm"] == {"mi250": 40}
    assert where["webgpu"] == {"chromium": 40}
    assert sum(where["cpu"].values()) == 60
    # Results say which hardware was simulated: the a100's cuda is, a plain cpu is not.
    assert all(w.simulates_any({"cuda": 1}) for w in ran["cuda"])
    assert not any(w.simulates_any({"cpu": 1}) for w in ran["cpu"])


def test_unsatisfiable_needs_are_named_against_the_live_fleet(
    fleet: dict[str, WorkerInfo],
) -> None:
    resources = {name: w.resources for name, w in fleet.items()}
    shards = [
        Shard("llm-0", "llm", ("t.py::x",), needs={"cuda": 1, "gpu_mem_gb": 160}),
        Shard("gpu-0", "gpu", ("t.py::y",), needs={"cuda": 1}),
        Shard("npu-0", "npu", ("t.py::z",), needs={"webnn": 1}),
    ]
    messages = [p.message(resources) for p in unplaceable(shards, resources)]
    assert len(messages) == 2
    assert messages[0].startswith(
        "suite 'llm' needs cuda=1, gpu_mem_gb=160, which no worker offers: "
        "gpu_mem_gb is at most 80 (on a100), 160 needed (fleet: a100: cpu=1, cuda=1, "
    )
    assert messages[1].startswith("suite 'npu' needs webnn=1, which no worker offers: "
                                  "no worker has webnn (fleet: ")  # fmt: skip


def test_dtf_cluster_status_shows_workers_resources_load_and_simulation(
    rehearsal: tuple[Path, ClusterInfo],
) -> None:
    dtf = Path(sys.executable).with_name("dtf")
    env = {**os.environ, "DTF_HOME": str(rehearsal[0]), "COLUMNS": "250"}
    proc = subprocess.run([str(dtf), "cluster", "status"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = {line.split("│")[1].strip(): line for line in proc.stdout.splitlines()
            if line.startswith("│")}  # fmt: skip
    assert set(rows) == {"a100", "chromium", "cpu-0", "cpu-1", "mi250"}
    assert "cpu=1,cuda=1,cuda_cc=8,gpu_mem_gb=80" in rows["a100"]
    assert "cuda, cuda_cc, gpu_mem_gb" in rows["a100"]
    assert "1x NVIDIA A100-SXM4-80GB" in rows["a100"]
    assert "chromium +webgpu" in rows["chromium"]
    assert "cpu only" in rows["cpu-0"]


def test_load_counts_the_tasks_each_worker_is_processing(
    rehearsal: tuple[Path, ClusterInfo],
) -> None:
    address = rehearsal[1].address
    with Client(address, set_as_default=False, timeout=30) as client:
        busy = [client.submit(time.sleep, 30, pure=False, resources={"rocm": 2})
                for _ in range(3)]  # fmt: skip
        deadline = time.monotonic() + 20
        load: dict[str, int] = {}
        while time.monotonic() < deadline:
            load = {w.name: w.processing for w in live_workers(address)}
            if load["mi250"] == 3:
                break
            time.sleep(0.2)
        client.cancel(busy)
    assert load == {"a100": 0, "chromium": 0, "cpu-0": 0, "cpu-1": 0, "mi250": 3}


def test_the_default_local_cluster_publishes_which_resources_are_simulated(
    dask_cluster: ClusterInfo,
) -> None:
    workers = {w.name: w for w in live_workers(dask_cluster.address)}
    assert {name: (w.simulated, w.hardware) for name, w in workers.items()} == {
        "dtf-worker-0": (("cuda",), None),
        "dtf-worker-1": ((), None),
    }


def test_the_local_cluster_runs_dask_with_its_quiet_settings(dask_cluster: ClusterInfo) -> None:
    keys = ("distributed.admin.tick.interval", "distributed.worker.profile.enabled",
            "distributed.worker.memory.monitor-interval")  # fmt: skip

    def settings() -> dict[str, object]:  # nested, so Dask ships it by value
        import dask

        return {key: dask.config.get(key) for key in keys}

    with Client(dask_cluster.address, set_as_default=False, timeout=30) as client:
        workers = client.run(settings)
        scheduler = client.run_on_scheduler(settings)
    quiet = dict(zip(keys, ["1s", False, "1s"], strict=True))
    assert list(workers.values()) == [quiet, quiet]
    assert scheduler == quiet
