"""The warm launcher process: imports dtf once, then forks a child for each delegated command.

`dtf run` spends seconds importing Prefect, Dask, SQLAlchemy and the rest before it starts a
flow. A launcher does those imports once per dtf home; for each command a `dtf` client hands
over (with its arguments, working directory, environment and standard streams), it forks a
child that runs the CLI exactly as the client would have, on the client's terminal.
"""

from __future__ import annotations

import fcntl
import gc
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from dtf import services
from dtf.config import dtf_home
from dtf.launching import LAUNCHER_GROUP, run_after_command
from dtf.warm.protocol import (
    CHILD_ENV,
    MessageReader,
    compatibility_key,
    enabled,
    log_path,
    send_message,
    socket_path,
    stale_parts,
    state_path,
    warm_dir,
)

IDLE_ENV = "DTF_WARM_IDLE"
DEFAULT_IDLE_SECONDS = 7200.0
CHECK_SECONDS = 2.0
REQUEST_TIMEOUT = 10.0
HOOK_GROUP = "dtf.fork_hooks"  # called in each child before the command runs
PRELOAD_GROUP = "dtf.warm_preloads"  # called once before serving: what every child would repeat
# Imported before serving; the CLI's own modules are then dropped so each child imports them
# afresh and their consoles see the client's terminal, not the launcher's log file.
PRELOAD = ("dtf.cli", "dtf.reports.html", "dtf.analysis.summary")


def ensure_launcher(home: Path) -> int | None:
    """Start the home's launcher unless one runs (or DTF_WARM=0); its pid, None if off."""
    if not enabled(os.environ):
        return None
    running = launcher_state(home)
    if running is not None and not stale_parts(compatibility_key(), running.get("key") or {}):
        return int(running["pid"])
    if running is not None:
        stop_launcher(home)  # it imported code or packages that have changed since
    argv = [sys.executable, "-m", "dtf.warm.launcher", str(home)]
    return services.spawn(argv, log=log_path(home), env=os.environ, cwd=warm_dir(home))


def launcher_state(home: Path) -> dict[str, Any] | None:
    """The running launcher's state (pid, socket, started), or None."""
    state = services.read_state(state_path(home))
    if state and services.alive(state.get("pid"), state.get("create_time")):
        return state
    return None


def stop_launcher(home: Path) -> bool:
    """Stop the home's launcher; True if one was running. Children already forked go on."""
    state = services.read_state(state_path(home))
    if not state:
        return False
    stopped = services.stop(state.get("pid"), state.get("create_time"))
    state_path(home).unlink(missing_ok=True)
    return stopped


def serve(home: Path) -> int:
    """Preload, then serve the home's socket until stopped, idle, stale or orphaned."""
    lock = _take_lock(home)
    if lock is None:
        _log("another launcher serves this home")
        return 0
    began = time.monotonic()
    _preload()
    key = compatibility_key()
    path = socket_path(home)
    listener = _listen(path)
    me = {"pid": os.getpid(), "create_time": services.started_at(os.getpid()),
          "socket": str(path), "key": key}  # fmt: skip
    services.write_state(state_path(home), me)
    _log(f"ready in {time.monotonic() - began:.1f} s on {path}")
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        _loop(home, listener, lock, key)
    except SystemExit:
        pass
    finally:
        listener.close()
        path.unlink(missing_ok=True)
        if (services.read_state(state_path(home)) or {}).get("pid") == os.getpid():
            state_path(home).unlink(missing_ok=True)
        _log("stopped")
    return 0


def _loop(home: Path, listener: socket.socket, lock: int, key: dict[str, str]) -> None:
    idle_limit = float(os.environ.get(IDLE_ENV) or DEFAULT_IDLE_SECONDS)
    last = time.monotonic()
    while True:
        ready, _, _ = select.select([listener], [], [], CHECK_SECONDS)
        if not ready:
            reason = _reason_to_stop(home, time.monotonic() - last, idle_limit)
            if reason:
                _log(f"stopping: {reason}")
                return
            continue
        conn, _ = listener.accept()
        last = time.monotonic()
        with conn:
            if _handle(conn, listener, lock, key):
                return


def _reason_to_stop(home: Path, idle: float, idle_limit: float) -> str | None:
    if idle > idle_limit:
        return f"idle for {idle:.0f} s (${IDLE_ENV})"
    state = services.read_state(state_path(home))
    if not state or state.get("pid") != os.getpid():
        return f"{state_path(home)} no longer names this process"
    return None


def _handle(conn: socket.socket, listener: socket.socket, lock: int, key: dict[str, str]) -> bool:
    """Serve one connection; True when this launcher should stop (asked to, or stale)."""
    if not _same_user(conn):
        return False
    conn.settimeout(REQUEST_TIMEOUT)
    try:
        request, fds = MessageReader(conn).receive(max_fds=3)
    except (OSError, ValueError) as exc:
        _log(f"bad request: {exc}")
        return False
    try:
        if request is None or len(fds) != 3:
            return False
        stale = stale_parts(key, request.get("key") or {})
        if request.get("key") != key:
            # The client runs the command itself; a launcher on stale code also goes away.
            _log(f"refused {request.get('argv')}: key differs ({', '.join(stale) or 'env'})")
            send_message(conn, {"refused": "incompatible"})
            return bool(stale)
        _fork(conn, listener, lock, fds, request)
        _log(f"served {request.get('argv')}")
        return False
    finally:
        for fd in fds:
            os.close(fd)


def _fork(
    conn: socket.socket, listener: socket.socket, lock: int, fds: list[int], request: dict[str, Any]
) -> None:
    # Forked twice: the grandchild is re-parented to init, so this loop never reaps anyone.
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        listener.close()
        os.close(lock)
        _run_child(conn, fds, request)
    finally:
        os._exit(1)


def _run_child(conn: socket.socket, fds: list[int], request: dict[str, Any]) -> None:
    """Become the client (streams, directory, environment), then run its command."""
    # As in a process started from the client's shell: the launcher was started in the
    # background, where a shell makes SIGINT and SIGQUIT ignored.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in {fd for fd in fds if fd > 2}:
        os.close(fd)  # the client's streams stay open only as 0, 1 and 2, which _release closes
    _reopen_streams()
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update({**request["env"], CHILD_ENV: "1"})
        sys.argv = ["dtf", *request["argv"]]
        send_message(conn, {"pid": os.getpid()})
        go, _ = MessageReader(conn).receive()
        conn.settimeout(None)
    except (OSError, ValueError):
        go = None
    if go != {"go": True}:
        os._exit(1)  # the client gave up waiting and runs the command itself
    threading.Thread(target=_interrupt_when_closed, args=(conn,), daemon=True).start()
    try:
        for hook in entry_points(group=HOOK_GROUP):
            hook.load()()
        from dtf.cli import run_cli

        code = run_cli(list(request["argv"]))
    except BaseException:
        traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    # The client leaves once it has the exit code: that is no interrupt any more.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        send_message(conn, {"exit": code})
    except OSError:
        pass
    _release_client_streams()
    run_after_command()  # say, deliver the flow run's last logs: the client need not wait
    os._exit(code)


def _reopen_streams() -> None:
    """Python's std streams over the client's descriptors, buffered as for a fresh process."""
    encoding = sys.stdout.encoding or "utf-8"
    sys.stdin = open(0, encoding=encoding, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding=encoding, closefd=False,  # noqa: SIM115
                      buffering=1 if os.isatty(1) else -1)  # fmt: skip
    sys.stderr = open(2, "w", encoding=encoding, closefd=False, buffering=1,  # noqa: SIM115
                      errors="backslashreplace")  # fmt: skip


def _release_client_streams() -> None:
    """Let go of the client's stdin, stdout and stderr: a pipe the client's caller reads
    ends now. What this child prints from here on goes to the launcher's log."""
    quiet = os.open(os.devnull, os.O_RDONLY)
    try:
        log = os.open(log_path(dtf_home()), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:  # its directory gone: what is left still runs, its output lost
        log = os.open(os.devnull, os.O_WRONLY)
    for target, fd in ((0, quiet), (1, log), (2, log)):
        os.dup2(fd, target)
    os.close(quiet)
    os.close(log)


def _interrupt_when_closed(conn: socket.socket) -> None:
    """A client that goes away (killed, or its terminal closed) interrupts its command."""
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGINT)


def _preload() -> None:
    for name in PRELOAD:
        __import__(name)
    for entry in entry_points(group=LAUNCHER_GROUP):
        entry.load()
    for entry in entry_points(group=PRELOAD_GROUP):
        entry.load()()
    for name in [m for m in sys.modules if m == "dtf.cli" or m.startswith("dtf.cli.")]:
        del sys.modules[name]
    # Objects that exist now are never collected: the children share their pages.
    gc.collect()
    gc.freeze()


def _take_lock(home: Path) -> int | None:
    warm_dir(home).mkdir(parents=True, exist_ok=True)
    fd = os.open(warm_dir(home) / "launcher.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _listen(path: Path) -> socket.socket:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.parent.stat().st_uid != os.getuid():
        raise SystemExit(f"{path.parent} belongs to another user: not serving there")
    path.unlink(missing_ok=True)  # a dead launcher's socket; the lock says none serves it
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)  # only this user may connect
    try:
        listener.bind(str(path))
    finally:
        os.umask(old)
    listener.listen(16)
    return listener


def _same_user(conn: socket.socket) -> bool:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    uid = int.from_bytes(creds[4:8], sys.byteorder)
    return uid == os.getuid()


def _exit_on_signal(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} launcher {os.getpid()}: {message}", flush=True)


if __name__ == "__main__":
    status = serve(Path(sys.argv[1]))
    # A normal exit with DuckDB imported prints "nanobind: leaked" lines; nothing is pending.
    os._exit(status)
