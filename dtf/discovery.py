"""Expands a suite's pytest selection into test ids with pytest's own collection."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from dtf.errors import DiscoveryError
from dtf.execution.events import COLLECT_ERROR, COLLECTED, EVENTS_ENV, ROOTDIR, decode_lines
from dtf.execution.process import GroupProcess, describe_exit, tail_text

DISCOVERY_TIMEOUT_SECONDS = 600.0


@dataclass
class Discovered:
    """What pytest collected for one selection."""

    rootdir: Path
    nodeids: list[str] = field(default_factory=list)
    collect_errors: dict[str, str] = field(default_factory=dict)


def discover(
    source: Path,
    pytest_args: list[str],
    *,
    python: str = sys.executable,
    timeout: float = DISCOVERY_TIMEOUT_SECONDS,
) -> Discovered:
    """Run `pytest --collect-only` on `pytest_args` in `source`; collection errors are data."""
    if not source.is_dir():
        raise DiscoveryError(f"source directory {source} does not exist")
    with tempfile.TemporaryDirectory(prefix="dtf-discover-") as tmp:
        events_path, output_path = Path(tmp, "events.jsonl"), Path(tmp, "output.log")
        events_path.write_bytes(b"")
        argv = [python, "-m", "pytest", "-p", "dtf", "-p", "no:cacheprovider",
                "--collect-only", "-q", *pytest_args]  # fmt: skip
        env = {**os.environ, EVENTS_ENV: str(events_path)}
        proc = GroupProcess(argv, cwd=source, env=env, output=output_path)
        code = _wait(proc, timeout)
        events, _ = decode_lines(events_path.read_bytes())
        found = Discovered(rootdir=source)
        for event in events:
            if event.get("e") == COLLECTED:
                found.nodeids.append(str(event["id"]))
            elif event.get("e") == COLLECT_ERROR:
                found.collect_errors[str(event.get("id", ""))] = str(event.get("msg", ""))
            elif event.get("e") == ROOTDIR:
                found.rootdir = Path(str(event["path"]))
        # Exit 5 is pytest's "no tests collected"; 2 is "interrupted", e.g. by collection errors.
        if code not in (0, 1, 2, 5) or (code == 2 and not found.collect_errors):
            tail = tail_text(output_path, 3000)
            raise DiscoveryError(
                f"pytest collection in {source} failed ({describe_exit(code)}) "
                f"for arguments {' '.join(pytest_args)}:\n{tail}"
            )
        return found


def _wait(proc: GroupProcess, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill_group()
            raise DiscoveryError(f"pytest collection did not finish within {timeout:g}s")
        time.sleep(0.05)
    proc.reap()
    return proc.popen.wait()
