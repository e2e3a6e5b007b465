"""Starts a command in its own process group and kills the whole group when asked."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

KILL_GRACE_SECONDS = 3.0


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

    def kill_group(self, grace: float = KILL_GRACE_SECONDS) -> int:
        """SIGTERM the group, SIGKILL what is left after `grace` seconds; return the exit code."""
        if self.popen.poll() is None:
            _signal_group(self.pgid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self.popen.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
        self.reap()
        return self.popen.wait()

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
