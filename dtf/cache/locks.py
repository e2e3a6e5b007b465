"""File locks (fcntl.flock) that threads and processes of one machine wait on with a timeout."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dtf.errors import InfrastructureError

POLL_SECONDS = 0.05
# A build holds its lock for as long as a clone or an install takes; waiting longer than
# this means the holder is stuck, which is a fault of this worker.
DEFAULT_WAIT_SECONDS = 1800.0


@contextmanager
def file_lock(
    path: Path, *, shared: bool = False, wait: float = DEFAULT_WAIT_SECONDS
) -> Iterator[None]:
    """Hold `path` locked (shared or exclusive) for the block; InfrastructureError on timeout.

    flock locks belong to an open file, not to a process, so two threads of one Dask worker
    exclude each other as two processes do. The lock file itself is never deleted: deleting
    it would let a waiter lock a file that is no longer the one others open.
    """
    fd = _open(path)
    try:
        if not _acquire(fd, shared, wait):
            kind = "shared" if shared else "exclusive"
            raise InfrastructureError(
                f"timed out after {wait:g}s waiting for the {kind} lock {path}",
                error_class="cache_lock",
            )
        yield
    finally:
        os.close(fd)  # closing the file releases its lock


@contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Take `path` exclusively if nobody holds it, without waiting; yields whether it did."""
    fd = _open(path)
    try:
        yield _acquire(fd, shared=False, wait=0.0)
    finally:
        os.close(fd)


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def _acquire(fd: int, shared: bool, wait: float) -> bool:
    mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, mode)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            # Polling rather than a blocking flock: a blocking call cannot time out.
            time.sleep(POLL_SECONDS)
