"""CPU an idle Dask scheduler and workers take, with Dask's defaults and with dtf's quiet settings.

Run: .venv/bin/python benchmarks/dask_idle_cpu.py [--workers 2] [--seconds 20] [--repeat 2]
Starts a scheduler and WORKERS one-thread workers (each with its nanny) as `dtf cluster up`
does, waits until they are connected and settled, then reads the CPU time of every process
from the operating system over SECONDS of idling. The two settings alternate, REPEAT times
each, and the medians are printed with their ratio. Idle CPU is what CPU-bound tests lose on
a host whose every core runs a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import psutil
from distributed import Client

from dtf.cluster.quiet import QUIET_DASK_ENV
from dtf.services import free_port

DASK = str(Path(sys.executable).with_name("dask"))
SETTLE_SECONDS = 5.0  # the default; start-up work (imports, registration) is over by then


def start_cluster(workers: int, env: Mapping[str, str]) -> list[subprocess.Popen[bytes]]:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [_spawn([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                     "--no-dashboard"], env)]  # fmt: skip
    worker = [DASK, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard"]
    procs += [_spawn([*worker, "--name", f"idle-{i}"], env) for i in range(workers)]
    try:
        with Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=60)
    except BaseException:
        stop(procs)  # no stray scheduler or workers left behind
        raise
    return procs


def _spawn(argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(env))  # fmt: skip


def tree_cpu(procs: list[subprocess.Popen[bytes]]) -> dict[str, float]:
    """CPU seconds so far of each process and its children, by role."""
    out: dict[str, float] = {}
    for index, proc in enumerate(procs):
        role = "scheduler" if index == 0 else "workers"
        parent = psutil.Process(proc.pid)
        for member in [parent, *parent.children(recursive=True)]:
            try:
                times = member.cpu_times()
            except psutil.NoSuchProcess:
                continue
            out[role] = out.get(role, 0.0) + times.user + times.system
    return out


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure(
    workers: int, seconds: float, env: Mapping[str, str], settle: float
) -> dict[str, float]:
    """Per role, the idle CPU as a percentage of one core."""
    procs = start_cluster(workers, env)
    try:
        time.sleep(settle)
        before = tree_cpu(procs)
        time.sleep(seconds)
        after = tree_cpu(procs)
    finally:
        stop(procs)
    shares = {role: 100.0 * (after[role] - before.get(role, 0.0)) / seconds for role in after}
    return {**shares, "total": sum(shares.values())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0, help="idle time measured")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS,
                        help="seconds between start-up and measuring")  # fmt: skip
    args = parser.parse_args(argv)
    plain = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    settings = {"dask defaults": plain, "dtf quiet": {**plain, **QUIET_DASK_ENV}}
    print(f"machine: nproc={os.cpu_count()} load={os.getloadavg()[0]:.1f} "
          f"python={platform.python_version()} {platform.platform()}")  # fmt: skip
    print(
        f"cluster: 1 scheduler + {args.workers} one-thread workers with nannies, idle "
        f"{args.seconds:g} s after {args.settle:g} s to settle; median of {args.repeat}"
    )
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
    for _ in range(args.repeat):
        for name, env in settings.items():  # alternated: a burst of load hits both alike
            samples[name].append(measure(args.workers, args.seconds, env, args.settle))
    medians = {}
    for name, runs in samples.items():
        roles = {role: statistics.median(r[role] for r in runs) for role in runs[0]}
        medians[name] = roles["total"]
        each = ", ".join(f"{r['total']:.2f}" for r in runs)
        print(
            f"  {name:14} idle cpu {roles['total']:6.2f}% of a core  (scheduler "
            f"{roles['scheduler']:.2f}%, workers {roles['workers']:.2f}%)  [{each}]"
        )
    quiet = medians["dtf quiet"]
    ratio = medians["dask defaults"] / quiet if quiet > 0 else float("inf")
    print(f"  ratio defaults/quiet: {ratio:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
