"""Times worker start-up: each detection probe, and `dtf worker` until the scheduler lists it.

Run: .venv/bin/python benchmarks/worker_startup.py [--repeat 3]
Prints the median (and min-max) of each figure. The baseline is a plain `dask worker`
against the same scheduler, so the difference is what detection and the preload cost.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from distributed import Client

from dtf.hardware.amd import detect_amd
from dtf.hardware.apple import detect_mps
from dtf.hardware.browsers import detect_browsers
from dtf.hardware.cpu import detect_cpu
from dtf.hardware.detect import detect
from dtf.hardware.nvidia import detect_nvidia

DTF = str(Path(sys.executable).with_name("dtf"))
PROBES: dict[str, Callable[[], Any]] = {
    "cpu": detect_cpu,
    "nvidia (NVML, then nvidia-smi)": detect_nvidia,
    "amd (rocm-smi)": detect_amd,
    "mps": detect_mps,
    "browsers (find + Selenium probe)": detect_browsers,
    "detect(browsers=False)": lambda: detect(browsers=False),
    "detect(browsers=True)": lambda: detect(browsers=True),
}


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def summary(values: Sequence[float]) -> str:
    return f"{statistics.median(values):7.2f}s  ({min(values):.2f}-{max(values):.2f})"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def time_to_join(client: Client, argv: Sequence[str], name: str, log: Path) -> float:
    """Seconds from spawning `argv` until the scheduler lists a worker called `name`."""
    started = time.perf_counter()
    proc = start(argv, log)
    try:
        while True:
            names = {w["name"] for w in client.scheduler_info(n_workers=-1)["workers"].values()}
            if name in names:
                return time.perf_counter() - started
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited {proc.returncode}; see {log}")
            time.sleep(0.02)
    finally:
        stop(proc)
        while name in {w["name"] for w in client.scheduler_info(n_workers=-1)["workers"].values()}:
            time.sleep(0.1)


def worker_commands(address: str, name: str) -> dict[str, list[str]]:
    dask = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--name", name,
            "--nthreads", "1", "--no-dashboard"]  # fmt: skip
    dtf = [DTF, "worker", "--scheduler", address, "--name", name, "--nthreads", "1"]
    return {
        "dask worker (baseline)": dask,
        "dask worker --preload dtf.cluster.publish": [*dask, "--preload", "dtf.cluster.publish"],
        "dtf worker --no-browsers": [*dtf, "--no-browsers"],
        "dtf worker (with browser probe)": dtf,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--logs", type=Path, default=Path("/tmp/dtf-worker-startup"))
    args = parser.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    print(f"{platform.node()}: {os.cpu_count()} cpus, Python {platform.python_version()}, "
          f"{args.repeat} runs each; median (min-max)")  # fmt: skip
    print("\ndetection, in process:")
    for label, probe in PROBES.items():
        print(f"  {label:42s} {summary([timed(probe) for _ in range(args.repeat)])}")
    print("\nseparate processes (interpreter start and imports included):")
    for label, argv in {
        "python -c 'import dtf.cli'": [sys.executable, "-c", "import dtf.cli"],
        "python -m dtf.hardware --no-browsers": [sys.executable, "-m", "dtf.hardware",
                                                 "--no-browsers"],
        "python -m dtf.hardware": [sys.executable, "-m", "dtf.hardware"],
    }.items():  # fmt: skip
        runs = [timed(lambda a=argv: subprocess.run(a, check=True, capture_output=True))
                for _ in range(args.repeat)]  # fmt: skip
        print(f"  {label:42s} {summary(runs)}")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                       "127.0.0.1", "--port", str(port), "--no-dashboard"],
                      args.logs / "scheduler.log")  # fmt: skip
    try:
        with Client(address, timeout=60, set_as_default=False) as client:
            print("\nspawn until the scheduler lists the worker:")
            for label in worker_commands(address, "x"):
                runs = []
                for i in range(args.repeat):
                    name = f"bench-{abs(hash(label)) % 1000}-{i}"
                    argv = worker_commands(address, name)[label]
                    runs.append(time_to_join(client, argv, name, args.logs / f"{name}.log"))
                print(f"  {label:42s} {summary(runs)}")
    finally:
        stop(scheduler)


if __name__ == "__main__":
    main()
