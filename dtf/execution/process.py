"""Starts a command in its own process group and kills the whole group when asked."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

KILL_GRACE_SECONDS = 3.0
# How long a process whose work is done may take to exit on its own before its group is killed.
EXIT_GRACE_SECONDS = 30.0
# How long a stack dump (SIGABRT, which pytest's faulthandler turns into a traceback of
# every thread) may take before the group is terminated anyway.
DUMP_WAIT_SECONDS = 1.0


class GroupProcess:
    """A child process leading its own process group, with output sent to a file."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        output: Path,
    ):
        self._out = output.open("ab")
        self.popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the child leads a new process group we can kill whole
        )
        self.pgid = self.popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    def kill_group(self, grace: float = KILL_GRACE_SECONDS, *, dump_stack: bool = False) -> int:
        """SIGTERM the group, SIGKILL what is left after `grace` seconds; return the exit code.

        With `dump_stack`, the leader first gets SIGABRT so that faulthandler writes where
        every thread was stuck into the output before the process goes.
        """
        if dump_stack and self.popen.poll() is None:
            self._abort_leader()
        if self.popen.poll() is None:
            _signal_group(self.pgid, signal.SIGTERM)
            self._wait(grace)
        self.reap()
        return self.popen.wait()

    def _abort_leader(self) -> None:
        try:
            # Our own abort must not leave a core file (possibly gigabytes) in the checkout.
            _soft, hard = resource.prlimit(self.popen.pid, resource.RLIMIT_CORE)
            resource.prlimit(self.popen.pid, resource.RLIMIT_CORE, (0, hard))
            os.kill(self.popen.pid, signal.SIGABRT)
        except OSError:  # gone already, or not ours to signal
            return
        self._wait(DUMP_WAIT_SECONDS)

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.popen.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)

    def reap_later(self, grace: float | None = None) -> threading.Thread:
        """In the background: let the process exit on its own for up to `grace` seconds
        (default EXIT_GRACE_SECONDS), then kill its group; reap it and what it left behind."""

        def finish() -> None:
            self._wait(EXIT_GRACE_SECONDS if grace is None else grace)
            self.kill_group()

        thread = threading.Thread(target=finish, name=f"reap-{self.pgid}", daemon=True)
        thread.start()
        return thread

    def reap(self) -> None:
        """Kill anything the child left behind in its group, then close the output file."""
        _signal_group(self.pgid, signal.SIGKILL)
        self.popen.wait()
        self._out.close()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def describe_exit(code: int) -> str:
    """'killed by SIGSEGV' or 'exit code 3' for a Popen return code."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def tail_text(path: Path, limit: int) -> str:
    """The last `limit` bytes of a file, decoded leniently."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            data = handle.read()
    except OSError:
        return ""
    return data.decode("utf-8", "replace")
