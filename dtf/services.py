"""Detached service processes dtf starts and finds again through a JSON state file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil


def free_port(preferred: int | None = None) -> int:
    """`preferred` if nothing listens there, else a port the OS picks."""
    if preferred is not None and not port_open("127.0.0.1", preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def spawn(argv: Sequence[str], *, log: Path, env: Mapping[str, str], cwd: Path) -> int:
    """Start a daemon that outlives this process, leading its own session; return its pid.

    A shell starts it in the background under `setsid` and exits at once, so the daemon is
    re-parented to init: no zombie and no Popen object left behind for this process to reap.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    script = 'setsid "$@" </dev/null >>"$DTF_SPAWN_LOG" 2>&1 & echo $!'
    try:
        done = subprocess.run(
            ["/bin/sh", "-c", script, "sh", *argv],
            env={**env, "DTF_SPAWN_LOG": str(log)},
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
        return int(done.stdout.strip())
    except (subprocess.CalledProcessError, ValueError) as exc:
        raise OSError(f"could not start {argv[0]}: {exc}") from exc


def alive(pid: int | None, create_time: float | None = None) -> bool:
    """Whether `pid` runs and (given its start time) is the same process, not a reused pid."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 1.0
    except psutil.Error:
        return False


def started_at(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def stop(pid: int | None, create_time: float | None = None, grace: float = 10.0) -> bool:
    """Stop a service and everything in its process group; True if it was running."""
    if not alive(pid, create_time):
        return False
    assert pid is not None
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return True
        deadline = time.monotonic() + wait
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not alive(pid):
            _reap(pid)
            return True
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(state), indent=2), encoding="utf-8")
    tmp.replace(path)


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
