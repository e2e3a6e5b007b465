"""Starts, finds and stops the local Dask scheduler and workers that `dtf run` uses."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dtf import services
from dtf.cluster.fleet import live_workers
from dtf.cluster.profiles import WorkerProfile
from dtf.cluster.publish import TAXONOMY_ENV, WORKER_ENV
from dtf.cluster.quiet import quiet_dask_env
from dtf.errors import ClusterError

START_TIMEOUT_SECONDS = 60.0
__all__ = ["WORKER_ENV", "ClusterInfo", "cluster_status", "ensure_cluster", "stop_cluster"]


@dataclass(frozen=True)
class ClusterInfo:
    """A running local cluster: its scheduler address and the workers dtf started."""

    address: str
    workers: tuple[str, ...]


def _state_path(home: Path) -> Path:
    return home / "cluster" / "cluster.json"


def cluster_status(home: Path) -> ClusterInfo | None:
    state = services.read_state(_state_path(home))
    if not state:
        return None
    sched = state.get("scheduler", {})
    if not services.alive(sched.get("pid"), sched.get("create_time")):
        return None
    workers = [w for w in state.get("workers", []) if services.alive(w["pid"], w["create_time"])]
    return ClusterInfo(address=state["address"], workers=tuple(w["name"] for w in workers))


def running_cluster(home: Path, env: Mapping[str, str]) -> ClusterInfo | None:
    """The running local cluster, whatever its profiles, if started with this environment
    (same Prefect server, same dtf code) and with every worker it started still alive."""
    running = cluster_status(home)
    state = services.read_state(_state_path(home)) or {}
    if running is None or state.get("env") != dict(env):
        return None
    if len(running.workers) != len(state.get("workers", [])):
        return None
    return running


def ensure_cluster(
    home: Path, profiles: Sequence[WorkerProfile], env: Mapping[str, str]
) -> ClusterInfo:
    """Reuse the running local cluster if it has these workers, else (re)start it."""
    wanted = tuple(p.name for p in profiles)
    running = cluster_status(home)
    if running is not None and running.workers == wanted:
        state = services.read_state(_state_path(home)) or {}
        if state.get("profiles") == _profile_state(profiles) and state.get("env") == dict(env):
            return running
    stop_cluster(home)
    return _start(home, profiles, env)


def _start(home: Path, profiles: Sequence[WorkerProfile], env: Mapping[str, str]) -> ClusterInfo:
    cdir = home / "cluster"
    port = services.free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).with_name("dask"))
    base_env = {**quiet_dask_env(os.environ), **os.environ, **env}
    sched_argv = [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
                  "--preload", "dtf.cluster.warm_up"]  # fmt: skip
    state: dict[str, Any] = {
        "address": address, "profiles": _profile_state(profiles), "env": dict(env),
    }  # fmt: skip
    # A worker death fails its task at once (KilledWorker) instead of Dask silently re-running
    # it elsewhere: dtf counts infrastructure deaths itself and climbs its recovery ladder.
    sched_env = {**base_env, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    sched = _spawn(sched_argv, cdir / "scheduler.log", sched_env, cdir)
    state["scheduler"] = sched
    state["workers"] = []
    services.write_state(_state_path(home), state)
    _wait_for_port(port, sched["pid"], cdir / "scheduler.log")
    for profile in profiles:
        argv, worker_env = _worker_command(dask, address, profile, cdir)
        proc = _spawn(argv, cdir / f"{profile.name}.log", {**base_env, **worker_env}, cdir)
        state["workers"].append({"name": profile.name, **proc})
        services.write_state(_state_path(home), state)
    _wait_for_workers(address, len(profiles), cdir)
    return ClusterInfo(address=address, workers=tuple(p.name for p in profiles))


def _worker_command(
    dask: str, address: str, profile: WorkerProfile, cdir: Path
) -> tuple[list[str], dict[str, str]]:
    argv = [
        dask, "worker", address, "--name", profile.name, "--nthreads", str(profile.nthreads),
        "--nworkers", "1", "--resources", profile.resources_arg(), "--no-dashboard",
        "--local-directory", str(cdir / profile.name), "--preload", "dtf.cluster.publish",
        "--preload", "dtf.cluster.warm_up",
    ]  # fmt: skip
    # Set even when empty, so a taxonomy in dtf's own environment never leaks into workers.
    taxonomy = profile.taxonomy.model_dump_json() if profile.taxonomy else ""
    return argv, {WORKER_ENV: json.dumps(_profile_json(profile)), TAXONOMY_ENV: taxonomy}


def _spawn(argv: list[str], log: Path, env: Mapping[str, str], cwd: Path) -> dict[str, Any]:
    try:
        pid = services.spawn(argv, log=log, env=env, cwd=cwd)
    except OSError as exc:
        raise ClusterError(f"cannot start {argv[0]} {argv[1]}: {exc}") from exc
    return {"pid": pid, "create_time": services.started_at(pid), "log": str(log)}


def _wait_for_port(port: int, pid: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not services.port_open("127.0.0.1", port):
        if not services.alive(pid):
            raise ClusterError(
                f"the Dask scheduler exited during start-up; last lines of {log}:\n"
                + services.log_tail(log)
            )
        if time.monotonic() > deadline:
            raise ClusterError(f"the Dask scheduler did not listen on port {port}; see {log}")
        time.sleep(0.2)


def _wait_for_workers(address: str, count: int, cdir: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if len(live_workers(address)) >= count:
            return
        time.sleep(0.5)
    raise ClusterError(
        f"only {len(live_workers(address))} of {count} Dask workers joined {address} within "
        f"{START_TIMEOUT_SECONDS:g}s; worker logs are in {cdir}"
    )


def stop_cluster(home: Path) -> bool:
    state = services.read_state(_state_path(home))
    if not state:
        return False
    stopped = False
    for proc in [*state.get("workers", []), state.get("scheduler", {})]:
        stopped |= services.stop(proc.get("pid"), proc.get("create_time"))
    _state_path(home).unlink(missing_ok=True)
    return stopped


def _profile_json(profile: WorkerProfile) -> dict[str, Any]:
    return {
        "name": profile.name,
        "resources": dict(profile.resources),
        "simulated": sorted(profile.simulated),
    }


def _profile_state(profiles: Sequence[WorkerProfile]) -> list[dict[str, Any]]:
    # Everything that changes what a worker advertises, so a changed profile file restarts
    # the cluster; detection timestamps are left out so an unchanged one reuses it.
    return [
        {
            **_profile_json(p),
            "nthreads": p.nthreads,
            "taxonomy": p.taxonomy.model_dump(
                mode="json", exclude={"detected_at", "detection_seconds"}
            )
            if p.taxonomy
            else None,
        }
        for p in profiles
    ]
