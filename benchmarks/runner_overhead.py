"""Times dtf's shard runner against plain pytest on the same many trivial tests."""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dtf.execution.runner import ShardRequest, run_shard
from dtf.spec.models import Limits

TESTS_PER_FILE = 100
# The baseline leaves dtf's plugin out (-p no:dtf): it is what pytest costs without dtf.
PLAIN = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:dtf"]


def generate(root: Path, size: int) -> list[str]:
    """Write `size` trivial tests, TESTS_PER_FILE to a module; return their node ids."""
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    ids: list[str] = []
    for start in range(0, size, TESTS_PER_FILE):
        name = f"test_gen_{start // TESTS_PER_FILE:04d}.py"
        numbers = range(start, min(size, start + TESTS_PER_FILE))
        body = "".join(f"def test_{i}():\n    assert {i} >= 0\n\n\n" for i in numbers)
        (root / name).write_text(body, encoding="utf-8")
        ids += [f"{name}::test_{i}" for i in numbers]
    return ids


Sample = tuple[float, float]  # wall seconds, CPU seconds (this process and its children)


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(action: Callable[[], None]) -> Sample:
    # CPU time is the steadier figure on a loaded machine: wall time counts waiting for a core.
    wall, cpu = time.perf_counter(), cpu_seconds()
    action()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def run_plain(root: Path, extra: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, *PLAIN, *extra], cwd=root, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"plain pytest failed ({done.returncode}):\n{done.stdout[-2000:]}")


def run_dtf(root: Path, ids: list[str], scratch: Path) -> None:
    limits = Limits(test_timeout=600, idle_timeout=600, shard_timeout=3600)
    # Waits for pytest's exit, as the baselines do: a process reaped after the timed region
    # (the runner's default hands a shard back at its session's end) would put its CPU time
    # into the next sample.
    request = ShardRequest("bench", tuple(ids), root, limits, scratch=scratch, wait_for_exit=True)
    outcome = run_shard(request)
    counts = outcome.counts()
    if counts != {"passed": len(ids)} or outcome.launches != 1:
        raise SystemExit(f"dtf run went wrong: {counts}, {outcome.launches} launches")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=2000, help="number of trivial tests")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (median reported)")
    args = parser.parse_args(argv)
    samples: dict[str, list[Sample]] = {"plain": [], "plain-ids": [], "dtf": []}
    with tempfile.TemporaryDirectory(prefix="dtf-bench-overhead-") as tmp:
        root = Path(tmp, "suite")
        root.mkdir()
        ids = generate(root, args.size)
        args_file = Path(tmp, "ids.txt")
        args_file.write_text("\n".join(ids) + "\n", encoding="utf-8")
        run_plain(root, [])  # warm the file cache and byte-code before anything is timed
        for index in range(args.repeat):
            # Interleaved, so that a burst of load elsewhere hits all three alike.
            samples["plain"].append(timed(lambda: run_plain(root, [])))
            samples["plain-ids"].append(timed(lambda: run_plain(root, [f"@{args_file}"])))
            scratch = Path(tmp, f"scratch-{index}")
            samples["dtf"].append(timed(lambda: run_dtf(root, ids, scratch)))  # noqa: B023
    report(args, samples)
    return 0


def report(args: argparse.Namespace, samples: dict[str, list[Sample]]) -> None:
    wall = {k: statistics.median(s[0] for s in v) for k, v in samples.items()}
    cpu = {k: statistics.median(s[1] for s in v) for k, v in samples.items()}
    labels = {"plain": "plain pytest", "plain-ids": "plain pytest, by node ids",
              "dtf": "dtf run_shard, one shard"}  # fmt: skip
    print(f"machine: nproc={os.cpu_count()} load={os.getloadavg()[0]:.1f} "
          f"python={platform.python_version()} pytest={pytest.__version__} "
          f"{platform.platform()}")  # fmt: skip
    print(f"tests: {args.size} trivial, {TESTS_PER_FILE} per module; median of {args.repeat}")
    print(f"command: python {' '.join(PLAIN)}   (run in the generated suite)")
    for key, label in labels.items():
        runs = ", ".join(f"{w:.2f}/{c:.2f}" for w, c in samples[key])
        print(f"{label:27} wall {wall[key]:7.3f} s  cpu {cpu[key]:7.3f} s  [wall/cpu: {runs}]")
    print(f"ratio dtf/plain: wall {wall['dtf'] / wall['plain']:.3f}  "
          f"cpu {cpu['dtf'] / cpu['plain']:.3f}")  # fmt: skip
    print(f"ratio dtf/plain-by-ids: wall {wall['dtf'] / wall['plain-ids']:.3f}  "
          f"cpu {cpu['dtf'] / cpu['plain-ids']:.3f}")  # fmt: skip
    per_test = (cpu["dtf"] - cpu["plain"]) / args.size * 1e3
    print(f"overhead per test vs plain: cpu {per_test:.3f} ms, "
          f"wall {(wall['dtf'] - wall['plain']) / args.size * 1e3:.3f} ms")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
