"""The `dtf` entry point: hands eligible commands to a warm launcher, else runs the CLI here."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

from dtf.config import dtf_home
from dtf.warm.protocol import (
    MessageReader,
    compatibility_key,
    eligible,
    enabled,
    log_path,
    send_message,
    socket_path,
)

CONNECT_TIMEOUT = 2.0
# How long the launcher may take to fork and answer with its child's pid before this
# client runs the command itself (the child starts the command only on this client's "go").
ACCEPT_TIMEOUT = 10.0
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def main() -> None:
    """Console entry point of `dtf`."""
    argv = sys.argv[1:]
    code = delegate(argv) if eligible(argv) and enabled(os.environ) else None
    if code is None:
        from dtf.cli import main as run_here  # the heavy imports: only when not delegated

        run_here(argv)
    sys.exit(code)


def delegate(argv: list[str]) -> int | None:
    """Run `dtf ARGV` in a warm launcher's child and return its exit code; None if no launcher
    takes it (none running, another Python or code version, or it did not answer in time)."""
    path = socket_path(dtf_home())
    if not _ours(path):
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        handed = _hand_over(sock, path, argv)
        if handed is None:
            return None  # closing the socket tells a child about to start that it must not
        pid, reader = handed
        # From here the child runs the command: whatever happens, it is never run twice.
        return _wait(reader, pid)


def _ours(path: Path) -> bool:
    """Whether the socket exists and it and its directory belong to this user: the client
    hands over its environment, which may hold secrets."""
    try:
        return path.stat().st_uid == path.parent.stat().st_uid == os.getuid()
    except OSError:
        return False


def _hand_over(
    sock: socket.socket, path: Path, argv: list[str]
) -> tuple[int, MessageReader] | None:
    """Send the command; the child's pid once a child has it, else None."""
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        sock.connect(str(path))
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                   "key": compatibility_key()}  # fmt: skip
        send_message(sock, request, fds=[0, 1, 2])
        sock.settimeout(ACCEPT_TIMEOUT)
        reader = MessageReader(sock)
        answer, _ = reader.receive()
    except (OSError, ValueError):
        return None
    if answer is None or "pid" not in answer:
        return None  # refused (the launcher's log says why) or gone
    try:
        send_message(sock, {"go": True})  # the child starts the command only on this
    except OSError:
        return None
    sock.settimeout(None)
    return int(answer["pid"]), reader


def _wait(reader: MessageReader, pid: int) -> int:
    """The child's exit code; this client's signals go to it meanwhile (it has no terminal)."""

    def forward(signum: int, _frame: FrameType | None) -> None:
        # To its whole process group, as a terminal would: the command's subprocesses too.
        try:
            os.killpg(os.getpgid(pid), signum)
        except ProcessLookupError:
            pass

    for sig in FORWARDED:
        signal.signal(sig, forward)
    try:
        answer, _ = reader.receive()
    except (OSError, ValueError):
        answer = None
    if answer is None or "exit" not in answer:
        sys.stderr.write(f"dtf: the warm launcher's child (pid {pid}) ended without an exit "
                         f"status; see {log_path(dtf_home())}\n")  # fmt: skip
        return 1
    return int(answer["exit"])
