"""Runs a shell-command suite: its exit code and output are one result, under the same limits."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from dtf.environments.shard import process_environment
from dtf.execution.events import clean_text
from dtf.execution.outcomes import CaseResult, ShardOutcome
from dtf.execution.process import GroupProcess, describe_exit, tail_text
from dtf.spec.models import Limits

POLL_SECONDS = 0.05


def command_test_id(suite: str) -> str:
    """The single test id a command suite reports under."""
    return f"{suite}::command"


def run_command_shard(
    shard_id: str,
    suite: str,
    command: str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    limits: Limits,
    scratch: Path,
) -> ShardOutcome:
    """Run `command` with /bin/sh in its own process group; exit 0 passes, anything else fails.

    A command is one test, so the test timeout and the shard timeout both bound it (the
    smaller wins); the idle timeout fires when it prints nothing for that long.
    """
    begin, started_wall = time.monotonic(), time.time()
    output = scratch / "command-output.log"
    proc = GroupProcess(["/bin/sh", "-c", command], cwd=cwd, env=process_environment(env),
                        output=output)  # fmt: skip
    fired = _watch(proc, output, limits, begin)
    code = proc.kill_group() if fired else proc.popen.wait()
    if not fired:
        proc.reap()
    tail = _tail(output, limits.output_limit_bytes)
    if fired:
        outcome, message = "timeout", f"{fired}; last output:\n{tail}"
    elif code == 0:
        outcome, message = "passed", ""
    else:
        outcome, message = "failed", f"command failed ({describe_exit(code)}); last output:\n{tail}"
    result = CaseResult(
        nodeid=command_test_id(suite), outcome=outcome,  # type: ignore[arg-type]
        duration=time.monotonic() - begin, message=message, output=tail,
        started_at=started_wall, finished_at=time.time(),
    )  # fmt: skip
    return ShardOutcome(shard_id=shard_id, results=[result], launches=1,
                        wall_seconds=time.monotonic() - begin)  # fmt: skip


def _watch(proc: GroupProcess, output: Path, limits: Limits, begin: float) -> str | None:
    """Wait for the command; return which limit fired, or None when it exited by itself."""
    limit = min(limits.test_timeout, limits.shard_timeout)
    last_size, last_activity = -1, time.monotonic()
    while proc.poll() is None:
        now = time.monotonic()
        size = output.stat().st_size if output.exists() else 0
        if size != last_size:
            last_size, last_activity = size, now
        if now - begin > limit:
            return f"command timeout of {limit:g}s expired"
        if now - last_activity > limits.idle_timeout:
            return f"idle timeout of {limits.idle_timeout:g}s expired (no output)"
        time.sleep(POLL_SECONDS)
    return None


def _tail(output: Path, limit: int) -> str:
    """The last `limit` bytes of the command's output, marked when earlier output was cut."""
    size = output.stat().st_size if output.exists() else 0
    text = clean_text(tail_text(output, limit), limit)
    if size > limit:
        return f"[... dtf kept the last {limit} of {size} bytes ...]\n{text}"
    return text
