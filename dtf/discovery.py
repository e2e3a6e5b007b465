"""Expands a suite's pytest selection into test ids with pytest's own collection."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtf.environments.shard import process_environment
from dtf.errors import DiscoveryError
from dtf.execution.events import (
    COLLECT_END,
    COLLECT_ERROR,
    COLLECT_START,
    COLLECTED,
    EVENTS_ENV,
    ROOTDIR,
    clean_text,
    decode_lines,
)
from dtf.execution.process import GroupProcess, describe_exit, tail_text

DISCOVERY_TIMEOUT_SECONDS = 600.0
# A module that kills the interpreter at import is skipped and collection runs again; this
# many such modules, and discovery gives up.
MAX_CRASHING_MODULES = 5
MESSAGE_BYTES = 8000


@dataclass
class Discovered:
    """What pytest collected for one selection."""

    rootdir: Path
    nodeids: list[str] = field(default_factory=list)
    collect_errors: dict[str, str] = field(default_factory=dict)
    reused: bool = False  # from an identical earlier collection (dtf.cache.collected)


@dataclass
class _Collection:
    """One `pytest --collect-only` process: its events, exit code and output."""

    code: int
    events: list[dict[str, Any]]
    output: str


def discover(
    source: Path,
    pytest_args: list[str],
    *,
    python: str = sys.executable,
    timeout: float = DISCOVERY_TIMEOUT_SECONDS,
    env: Mapping[str, str] | None = None,
) -> Discovered:
    """Run `pytest --collect-only` on `pytest_args` in `source`; collection errors are data.

    A module that crashes the interpreter while being imported becomes a collection error
    too, and the rest of the selection is collected again without it.
    """
    if not source.is_dir():
        raise DiscoveryError(f"source directory {source} does not exist")
    deadline = time.monotonic() + timeout
    crashed: dict[str, str] = {}
    while True:
        ignored = [f"--ignore={_path_of(nodeid)}" for nodeid in crashed]
        run = _collect(source, [*pytest_args, *ignored], python, env, deadline)
        found = _read(source, run.events)
        if run.code in (0, 1, 2, 5) and (run.code != 2 or found.collect_errors):
            found.collect_errors.update(crashed)
            return found
        culprit = _collecting(run.events)
        if culprit is None or culprit in crashed or len(crashed) >= MAX_CRASHING_MODULES:
            raise DiscoveryError(
                f"pytest collection in {source} failed ({describe_exit(run.code)}) "
                f"for arguments {' '.join(pytest_args)}:\n{run.output}"
            )
        crashed[culprit] = (
            f"the interpreter died while collecting {culprit} ({describe_exit(run.code)}):\n"
            f"{run.output}"
        )


def _collect(
    source: Path,
    args: list[str],
    python: str,
    env: Mapping[str, str] | None,
    deadline: float,
) -> _Collection:
    with tempfile.TemporaryDirectory(prefix="dtf-discover-") as tmp:
        events_path, output_path = Path(tmp, "events.jsonl"), Path(tmp, "output.log")
        events_path.write_bytes(b"")
        argv = [python, "-m", "pytest", "-p", "dtf", "-p", "no:cacheprovider",
                "--collect-only", "-q", *args]  # fmt: skip
        # The shard's clean room: collection imports the suite's modules and conftests too.
        full_env = process_environment({**(env or {}), EVENTS_ENV: str(events_path)})
        proc = GroupProcess(argv, cwd=source, env=full_env, output=output_path)
        code = _wait(proc, deadline, events_path)
        events, _ = decode_lines(events_path.read_bytes())
        output = clean_text(tail_text(output_path, MESSAGE_BYTES), MESSAGE_BYTES)
    return _Collection(code, events, output)


def _read(source: Path, events: list[dict[str, Any]]) -> Discovered:
    found = Discovered(rootdir=source)
    for event in events:
        kind = event.get("e")
        if kind == COLLECTED:
            found.nodeids.append(str(event["id"]))
        elif kind == COLLECT_ERROR:
            found.collect_errors[str(event.get("id", ""))] = str(event.get("msg", ""))
        elif kind == ROOTDIR:
            found.rootdir = Path(str(event["path"]))
    return found


def _collecting(events: list[dict[str, Any]]) -> str | None:
    """The collector pytest was working on when it died, if it died while collecting."""
    current: str | None = None
    for event in events:
        kind = event.get("e")
        if kind == COLLECT_START:
            current = str(event.get("id", "")) or None
        elif kind in (COLLECT_END, COLLECT_ERROR, COLLECTED):
            current = None
    return current


def _path_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _wait(proc: GroupProcess, deadline: float, events: Path) -> int:
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill_group(dump_stack=True)
            culprit = _collecting(decode_lines(events.read_bytes())[0])
            where = f" (stuck collecting {culprit})" if culprit else ""
            raise DiscoveryError(f"pytest collection did not finish in time{where}")
        time.sleep(0.05)
    proc.reap()
    return proc.popen.wait()
