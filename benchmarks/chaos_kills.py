"""Chaos: SIGKILLs a random busy Dask worker mid-campaign; counts lost and duplicated results."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from dtf.cluster.fleet import live_workers
from dtf.cluster.local import cluster_status
from dtf.recovery.circuit import Circuit
from dtf.services import alive, read_state
from dtf.store.recovery import events_of, load_circuits, save_circuits
from dtf.store.results import ResultStore

DTF = Path(sys.executable).with_name("dtf")
TESTS_PER_FILE = 20
SLEEP_RANGE = (0.05, 0.3)  # seconds each test sleeps, drawn uniformly with the seed
# A failing result followed by a later attempt is a rerun, not a duplicate (flows.shard_runs).
RERUN_OUTCOMES = frozenset({"failed", "error"})
# The kill lands this far into the shard phase, as a share of the baselines' shard phase:
# late enough that shards run, early enough that the lost shard is not the last one.
KILL_WINDOW = (0.1, 0.6)
SCOPES = ("worker", "hardware")  # circuit breakers, dtf.recovery.circuit
EVENT_KEYS = ("shard_id", "attempt", "worker", "error_class", "strategy", "outcome", "message")


def write_project(root: Path, tests: int, seed: int, target: float) -> list[str]:
    """A project of `tests` sleeping tests and its campaign file; returns the test ids."""
    rng = random.Random(seed)
    sleeps = [round(rng.uniform(*SLEEP_RANGE), 3) for _ in range(tests)]
    (root / "tests").mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    ids: list[str] = []
    for start in range(0, tests, TESTS_PER_FILE):
        name = f"tests/test_chaos_{start // TESTS_PER_FILE:03d}.py"
        numbers = range(start, min(tests, start + TESTS_PER_FILE))
        body = "".join(f"def test_{i}():\n    time.sleep({sleeps[i]})\n\n\n" for i in numbers)
        (root / name).write_text("import time\n\n\n" + body, encoding="utf-8")
        ids += [f"{name}::test_{i}" for i in numbers]
    # A 20% overhead share lowers the shard floor to 1 s, so a small project still makes
    # several shards per worker (the default share, 2%, would pack it into a few).
    defaults = {"shard_target_seconds": target, "max_overhead_share": 0.2,
                "default_test_seconds": sum(SLEEP_RANGE) / 2}  # fmt: skip
    spec = {"name": "chaos-kills", "source": ".", "defaults": defaults,
            "suites": [{"name": "sleepy", "select": {"paths": ["tests"]}}]}  # fmt: skip
    (root / "campaign.yaml").write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return ids


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PREFECT_API") and k != "DTF_DATABASE_URL"}  # fmt: skip
    return {**env, "DTF_HOME": str(home)}


def dtf(home: Path, *args: str) -> None:
    done = subprocess.run([str(DTF), *args], cwd=home, env=env_for(home), capture_output=True,
                          text=True, check=False, timeout=600)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"dtf {' '.join(args)} failed ({done.returncode}):\n"
                         f"{(done.stdout + done.stderr)[-3000:]}")  # fmt: skip


def ready_fleet(home: Path, workers: int) -> None:
    """The cluster up with all its workers, a killed one restarted by its nanny."""
    # `cluster up` also restarts the cluster if dtf's code changed (dtf.fingerprint): untimed.
    dtf(home, "cluster", "up", "--workers", str(workers))
    info = cluster_status(home)
    deadline = time.monotonic() + 60
    while info is None or len(live_workers(info.address)) < workers:
        if time.monotonic() > deadline:
            raise SystemExit(f"the fleet did not get back to {workers} workers within 60 s")
        time.sleep(0.5)
        info = cluster_status(home)


@dataclass(frozen=True)
class Busy:
    """A Dask worker process (its nanny's child) running shard processes."""

    name: str
    pid: int
    shards: tuple[int, ...]


def busy_workers(home: Path) -> list[Busy]:
    """Workers with a shard's pytest running, found from the nanny pids dtf recorded."""
    state = read_state(home / "cluster" / "cluster.json") or {}
    found = []
    for recorded in state.get("workers", []):
        for child, argv in _children(recorded["pid"]):
            if "spawn_main" not in " ".join(argv):
                continue  # the nanny's resource tracker, not the worker
            # Discovery's `pytest --collect-only` runs on a worker too, but is not a shard.
            shards = tuple(p.pid for p, cmd in _children(child.pid)
                           if "pytest" in cmd and "--collect-only" not in cmd)  # fmt: skip
            if shards:
                found.append(Busy(recorded["name"], child.pid, shards))
    return sorted(found, key=lambda b: b.name)


def _children(pid: int) -> list[tuple[psutil.Process, list[str]]]:
    """A process's children and their command lines; none once it is gone."""
    try:
        children = psutil.Process(pid).children()
    except psutil.Error:
        return []
    found = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            found.append((child, list(child.cmdline())))
    return found


@dataclass
class Kill:
    """When and whom the killer hit; `orphan_seconds` is how long the killed worker's shard
    processes outlived it (they lead their own process group, so its death does not end them)."""

    at: float = 0.0
    into_shards: float = 0.0
    worker: str = ""
    pid: int = 0
    shard_pids: tuple[int, ...] = ()
    orphan_seconds: float = 0.0


class Killer(threading.Thread):
    """Waits for shards to run, sleeps a random delay, then SIGKILLs one busy worker."""

    def __init__(self, home: Path, rng: random.Random, window: tuple[float, float],
                 started: float, done: threading.Event):  # fmt: skip
        super().__init__(daemon=True)
        self.home, self.rng, self.window, self.started, self.done = home, rng, window, started, done
        self.kill: Kill | None = None

    def run(self) -> None:
        if self._busy() is None:
            return
        first = time.perf_counter()
        if self.done.wait(self.rng.uniform(*self.window)):
            return  # the campaign ended first: no kill
        busy = self._busy()
        if busy is None:
            return
        victim = self.rng.choice(busy)
        os.kill(victim.pid, signal.SIGKILL)
        now = time.perf_counter()
        self.kill = Kill(now - self.started, now - first, victim.name, victim.pid, victim.shards)
        while any(alive(p) for p in victim.shards) and time.perf_counter() - now < 120:
            time.sleep(0.1)
        self.kill.orphan_seconds = time.perf_counter() - now

    def _busy(self) -> list[Busy] | None:
        while not self.done.is_set():
            busy = busy_workers(self.home)
            if busy:
                return busy
            time.sleep(0.05)
        return None


@dataclass
class Audit:
    """What the store holds for one run, against the tests the project has."""

    verdict: str | None = None
    planned: int = 0
    lost: int = 0
    duplicated: int = 0
    not_passed: int = 0
    shard_attempts: int = 0
    shards_wall: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    lost_ids: list[str] = field(default_factory=list)
    duplicated_ids: list[str] = field(default_factory=list)


def audit(home: Path, run_id: str, expected: list[str]) -> Audit:
    """Lost: expected tests with no result row. Duplicated: a test with more than one row
    other than reruns of a failure (the 'exactly once' of tests/e2e/test_recovery.py)."""
    store = ResultStore(f"duckdb:///{home / 'dtf.duckdb'}", lock_timeout=60.0)
    try:
        run = store.run(run_id) or {}
        rows = store.results_of(run_id)  # ordered by test id, then attempt
        shards = [s for s in store.shards_of(run_id) if s["finished_at"] is not None]
        events = events_of(store, run_id)
    finally:
        store.close()
    by_test: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_test.setdefault(f"{row['suite']}/{row['test_id']}", []).append(row)
    have = {row["test_id"] for row in rows}
    lost = [t for t in expected if t not in have]
    dups = [t for t, rs in by_test.items() if any(r["outcome"] not in RERUN_OUTCOMES
                                                  for r in rs[:-1])]  # fmt: skip
    phase = (max(s["finished_at"] for s in shards) - min(s["started_at"] for s in shards)
             if shards else 0.0)  # fmt: skip
    return Audit(
        verdict=run.get("verdict"), planned=int(run.get("planned_tests") or 0), lost=len(lost),
        duplicated=len(dups), not_passed=sum(rs[-1]["outcome"] != "passed"
                                             for rs in by_test.values()),
        shard_attempts=len(shards), shards_wall=phase,
        events=[{k: e[k] for k in EVENT_KEYS} for e in events],
        lost_ids=lost, duplicated_ids=dups,
    )  # fmt: skip


def open_circuits(home: Path, reset: bool) -> list[str]:
    """The circuits (per worker and per hardware class) a run left open or half-open; with
    `reset`, close them all.

    Circuits persist across runs (three infrastructure failures of a worker within ten
    minutes open its circuit for five): without a reset, the next runs would measure a
    smaller fleet, not one kill.
    """
    store = ResultStore(f"duckdb:///{home / 'dtf.duckdb'}", lock_timeout=60.0)
    try:
        circuits = [c for scope in SCOPES for c in load_circuits(store, scope).values()]
        if reset:
            save_circuits(store, [Circuit(c.scope, c.subject) for c in circuits])
    finally:
        store.close()
    return sorted(f"{c.subject}:{c.state.value}" for c in circuits if c.state.value != "closed")


@dataclass
class Run:
    """One campaign: how long it took, what the killer did and what the store holds."""

    label: str
    run_id: str
    rc: int
    wall: float
    audit: Audit
    kill: Kill | None = None
    extra: float | None = None
    circuits: list[str] = field(default_factory=list)


def campaign(home: Path, project: Path, run_id: str, killer_rng: random.Random | None,
             window: tuple[float, float]) -> tuple[int, float, Kill | None]:  # fmt: skip
    """`dtf run` the campaign; with a killer RNG, a Killer thread hits one busy worker."""
    log = home / f"{run_id}.log"
    done = threading.Event()
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen([str(DTF), "run", str(project / "campaign.yaml"), "--run-id",
                                 run_id], cwd=home, env=env_for(home), stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
        killer = Killer(home, killer_rng, window, started, done) if killer_rng else None
        if killer:
            killer.start()
        try:
            rc = proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    wall = time.perf_counter() - started
    done.set()
    if killer:
        killer.join(timeout=130)
    if rc != 0:
        print(f"  dtf run {run_id} exited {rc}; last lines of {log}:\n"
              + log.read_text(errors="replace")[-2000:], file=sys.stderr)  # fmt: skip
    return rc, wall, killer.kill if killer else None


def one_run(home: Path, project: Path, args: argparse.Namespace, expected: list[str],
            label: str, rng: random.Random | None, window: tuple[float, float]) -> Run:  # fmt: skip
    ready_fleet(home, args.workers)
    run_id = f"{label}-{args.seed}"
    rc, wall, kill = campaign(home, project, run_id, rng, window)
    result = Run(label, run_id, rc, wall, audit(home, run_id, expected), kill)
    if rng is not None:
        result.circuits = open_circuits(home, reset=not args.keep_circuits)
    return result


def print_run(run: Run) -> None:
    a, k = run.audit, run.kill
    kill = f"{k.at:6.1f} {k.into_shards:6.1f} {k.worker:13} {k.orphan_seconds:6.1f}" if k else (
        f"{'-':>6} {'-':>6} {'(no kill)':13} {'-':>6}")  # fmt: skip
    extra = f"{run.extra:+7.2f}" if run.extra is not None else f"{'-':>7}"
    circuits = f" circuits: {','.join(run.circuits)}" if run.circuits else ""
    print(f"{run.label:12} {kill} {run.wall:7.2f} {extra} {a.shards_wall:7.2f} {a.lost:4d} "
          f"{a.duplicated:4d} {a.not_passed:4d} {a.verdict or '-':7} "
          f"{_events(a.events)}{circuits}")  # fmt: skip
    for what, ids in (("LOST", a.lost_ids), ("DUPLICATED", a.duplicated_ids)):
        if ids:
            print(f"  {what} in {run.run_id}: {', '.join(ids[:20])}")


def _events(events: list[dict[str, Any]]) -> str:
    kinds = [f"{e['error_class']}/{e['strategy']}->{e['outcome']}" for e in events]
    return ",".join(f"{kinds.count(k)}x {k}" for k in dict.fromkeys(kinds)) or "-"


def summary(baseline: list[Run], chaos: list[Run]) -> dict[str, Any]:
    base = statistics.median(r.wall for r in baseline)
    extras = [r.extra for r in chaos if r.kill is not None and r.extra is not None]
    lost_events = [sum(e["error_class"] == "worker_lost" for e in r.audit.events)
                   for r in chaos if r.kill is not None]  # fmt: skip
    return {
        "runs": len(chaos), "kills": sum(r.kill is not None for r in chaos),
        "lost": sum(r.audit.lost for r in chaos), "duplicated": sum(r.audit.duplicated
                                                                    for r in chaos),
        "not_passed": sum(r.audit.not_passed for r in chaos),
        "failed_runs": sum(r.rc != 0 for r in [*baseline, *chaos]),
        "baseline_median_wall": base,
        "baseline_median_shards_wall": statistics.median(r.audit.shards_wall for r in baseline),
        "extra_median": statistics.median(extras) if extras else None,
        "extra_min": min(extras, default=None), "extra_max": max(extras, default=None),
        # One death fails every shard queued on the worker, not just the running one.
        "worker_lost_events_per_kill": statistics.median(lost_events) if lost_events else None,
        "runs_leaving_a_circuit_open": sum(bool(r.circuits) for r in chaos),
    }  # fmt: skip


def print_summary(s: dict[str, Any]) -> None:
    print(f"summary: {s['runs']} chaos runs, {s['kills']} kills landed; lost {s['lost']} "
          f"(must be 0), duplicated {s['duplicated']} (must be 0), final result not passed "
          f"{s['not_passed']}, dtf run failures {s['failed_runs']}")  # fmt: skip
    print(f"baseline median wall {s['baseline_median_wall']:.2f} s (shard phase "
          f"{s['baseline_median_shards_wall']:.2f} s)")  # fmt: skip
    if s["extra_median"] is not None:
        print(f"extra wall per kill: median {s['extra_median']:+.2f} s, min "
              f"{s['extra_min']:+.2f} s, max {s['extra_max']:+.2f} s")  # fmt: skip
        print(f"worker_lost events per kill: median {s['worker_lost_events_per_kill']:g}; runs "
              f"that left a worker circuit open: {s['runs_leaving_a_circuit_open']}")  # fmt: skip


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="chaos runs, one kill each")
    parser.add_argument("--baseline-runs", type=int, default=3, help="runs without a kill")
    parser.add_argument("--seed", type=int, default=6, help="seeds test sleeps, delays, victims")
    parser.add_argument("--workers", type=int, default=3, help="local cluster size")
    parser.add_argument("--tests", type=int, default=200, help="tests in the campaign")
    parser.add_argument("--shard-target", type=float, default=3.0, help="shard target seconds")
    parser.add_argument("--keep-circuits", action="store_true",
                        help="do not close worker circuits between runs")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    return parser.parse_args(argv)


def measure(home: Path, project: Path, args: argparse.Namespace, expected: list[str]) -> int:
    dtf(home, "server", "up")
    ready_fleet(home, args.workers)
    dtf(home, "run", str(project / "campaign.yaml"), "--run-id", "history")  # for the planner
    print(f"machine: nproc={os.cpu_count()} load={os.getloadavg()[0]:.1f} "
          f"python={platform.python_version()} {platform.platform()}")  # fmt: skip
    print(f"command: dtf run campaign.yaml ({args.tests} tests sleeping {SLEEP_RANGE[0]:g}-"
          f"{SLEEP_RANGE[1]:g} s, shard target {args.shard_target:g} s) on {args.workers} "
          f"nanny-managed workers; seed {args.seed}")  # fmt: skip
    print(
        f"{'run':12} {'kill@':>6} {'+shard':>6} {'worker':13} {'orphan':>6} {'wall':>7} "
        f"{'extra':>7} {'shards':>7} {'lost':>4} {'dup':>4} {'!ok':>4} verdict events"
    )
    baseline = []
    for i in range(args.baseline_runs):
        baseline.append(one_run(home, project, args, expected, f"baseline-{i}", None, (0, 0)))
        print_run(baseline[-1])
    phase = statistics.median(r.audit.shards_wall for r in baseline)
    window = (KILL_WINDOW[0] * phase, KILL_WINDOW[1] * phase)
    base = statistics.median(r.wall for r in baseline)
    chaos = []
    for i in range(args.runs):
        rng = random.Random(f"{args.seed}-{i}")
        run = one_run(home, project, args, expected, f"chaos-{i}", rng, window)
        run.extra = run.wall - base
        print_run(run)
        chaos.append(run)
    result = summary(baseline, chaos)
    print_summary(result)
    print(f"load after: {os.getloadavg()[0]:.1f}")
    if args.json:
        doc = {"args": {k: str(v) for k, v in vars(args).items()}, "summary": result,
               "kill_window_s": window, "baseline": [asdict(r) for r in baseline],
               "runs": [asdict(r) for r in chaos]}  # fmt: skip
        args.json.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return 1 if result["lost"] or result["duplicated"] else 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    tmp = Path(tempfile.mkdtemp(prefix="dtf-bench-chaos-"))
    home = tmp / "home"
    home.mkdir()
    try:
        expected = write_project(tmp / "project", args.tests, args.seed, args.shard_target)
        return measure(home, tmp / "project", args, expected)
    finally:
        subprocess.run([str(DTF), "down"], cwd=home, env=env_for(home), capture_output=True,
                       check=False, timeout=120)  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
