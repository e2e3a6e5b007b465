"""Measures what one crashing test costs a shard: the same shard with and without it."""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dtf.execution.runner import ShardRequest, run_shard
from dtf.spec.models import Limits

TESTS_PER_FILE = 100
HOW = {
    "segfault": "import os, signal\n    os.kill(os.getpid(), signal.SIGSEGV)",
    "exit": "import os\n    os._exit(3)",
}


def generate(root: Path, size: int, how: str) -> tuple[list[str], str, str]:
    """`size` trivial tests, TESTS_PER_FILE to a module; test number size // 2 exists twice,
    crashing and passing (in the middle of its module, as tests run in file order)."""
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    middle = size // 2
    ids: list[str] = []
    for start in range(0, size, TESTS_PER_FILE):
        name = f"test_gen_{start // TESTS_PER_FILE:04d}.py"
        numbers = range(start, min(size, start + TESTS_PER_FILE))
        body = "".join(_test(i, how) if i == middle else _test(i) for i in numbers)
        (root / name).write_text(body, encoding="utf-8")
        ids += [f"{name}::test_{i}" for i in numbers]
    return ids, ids[middle] + "_crash", ids[middle] + "_instead"


def _test(number: int, crash_how: str | None = None) -> str:
    if crash_how is None:
        return f"def test_{number}():\n    assert {number} >= 0\n\n\n"
    return (
        f"def test_{number}_crash():\n    {HOW[crash_how]}\n\n\n"
        f"def test_{number}_instead():\n    pass\n\n\n"
    )


Sample = tuple[float, float]  # wall seconds, CPU seconds (this process and its children)


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_shard(root: Path, ids: list[str], scratch: Path) -> tuple[Sample, int, dict[str, int]]:
    limits = Limits(test_timeout=600, idle_timeout=600, shard_timeout=3600)
    wall, cpu = time.perf_counter(), cpu_seconds()
    outcome = run_shard(ShardRequest("bench", tuple(ids), root, limits, scratch=scratch))
    sample = (time.perf_counter() - wall, cpu_seconds() - cpu)
    return sample, outcome.launches, outcome.counts()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=2000, help="tests in the shard")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (median reported)")
    parser.add_argument("--how", choices=sorted(HOW), default="segfault")
    args = parser.parse_args(argv)
    clean: list[Sample] = []
    crashed: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="dtf-bench-crash-") as tmp:
        root = Path(tmp, "suite")
        root.mkdir()
        ids, crasher, instead = generate(root, args.size, args.how)
        middle = ids[args.size // 2]
        with_crash = [crasher if i == middle else i for i in ids]
        without = [instead if i == middle else i for i in ids]
        timed_shard(root, without, Path(tmp, "warm"))  # byte-code and file cache
        for index in range(args.repeat):
            seconds, launches, counts = timed_shard(root, without, Path(tmp, f"clean-{index}"))
            check(launches == 1 and counts == {"passed": args.size}, counts)
            clean.append(seconds)
            seconds, launches, counts = timed_shard(root, with_crash, Path(tmp, f"crash-{index}"))
            check(launches == 2 and counts == {"passed": args.size - 1, "crashed": 1}, counts)
            crashed.append(seconds)
    report(args, clean, crashed)
    return 0


def check(ok: bool, counts: dict[str, int]) -> None:
    if not ok:
        raise SystemExit(f"the shard did not run as expected: {counts}")


def report(args: argparse.Namespace, clean: list[Sample], crashed: list[Sample]) -> None:
    def line(samples: list[Sample]) -> str:
        wall = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        runs = ", ".join(f"{w:.2f}/{c:.2f}" for w, c in samples)
        return f"wall {wall:7.3f} s  cpu {cpu:7.3f} s  [wall/cpu: {runs}]"

    # Paired by repetition: each crash run is compared with the clean run just before it.
    extra_wall = statistics.median(b[0] - a[0] for a, b in zip(clean, crashed, strict=True))
    extra_cpu = statistics.median(b[1] - a[1] for a, b in zip(clean, crashed, strict=True))
    print(f"machine: nproc={os.cpu_count()} load={os.getloadavg()[0]:.1f} "
          f"python={platform.python_version()} {platform.platform()}")  # fmt: skip
    print(f"shard: {args.size} trivial tests, {TESTS_PER_FILE} per module, "
          f"test {args.size // 2} crashes ({args.how}); "
          f"median of {args.repeat}")  # fmt: skip
    print(f"without crash: {line(clean)}")
    print(f"with crash:    {line(crashed)}")
    print(f"cost of one crash recovery: wall {extra_wall:.3f} s  cpu {extra_cpu:.3f} s")


if __name__ == "__main__":
    sys.exit(main())
