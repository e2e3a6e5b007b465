"""Runs a shard's tests in pytest subprocesses, enforcing limits and naming crashers."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtf.execution.events import (
    COLLECT_ERROR,
    EVENTS_ENV,
    FINISH,
    OUTPUT_LIMIT_ENV,
    START,
    decode_lines,
)
from dtf.execution.outcomes import CaseResult, Metric, Outcome, ShardOutcome
from dtf.execution.process import GroupProcess, describe_exit, tail_text
from dtf.spec.models import Limits

POLL_SECONDS = 0.05
TAIL_BYTES = 4000
# pytest's own exit codes: all passed, some failed, interrupted, internal, usage, none collected.
PYTEST_EXITS = {0, 1, 2, 3, 4, 5}
_NOT_FOUND = re.compile(r"ERROR: (?:not found|found no collectors for): (\S+)")


@dataclass(frozen=True)
class ShardRequest:
    """Everything needed to run one shard's tests on this machine."""

    shard_id: str
    nodeids: tuple[str, ...]
    rootdir: Path
    limits: Limits = field(default_factory=Limits)
    python: str = sys.executable
    env: Mapping[str, str] = field(default_factory=dict)
    scratch: Path | None = None


@dataclass
class _Launch:
    """What one pytest process did before it ended or was killed."""

    finished: dict[str, CaseResult]
    collect_errors: dict[str, str]
    current: str | None
    current_started: float | None
    exit_code: int
    fired: str | None
    output: Path


def run_shard(request: ShardRequest) -> ShardOutcome:
    """Run every test of the shard once; each gets exactly one result, whatever happens."""
    begin = time.monotonic()
    scratch = request.scratch or Path(tempfile.mkdtemp(prefix=f"dtf-{request.shard_id}-"))
    scratch.mkdir(parents=True, exist_ok=True)
    results: dict[str, CaseResult] = {}
    remaining = list(request.nodeids)
    launches = 0
    limits = request.limits
    while remaining:
        left = limits.shard_timeout - (time.monotonic() - begin)
        if left <= 0 or launches > limits.max_relaunches:
            why = (
                f"not run: shard timeout of {limits.shard_timeout:g}s expired"
                if left <= 0
                else f"not run: the shard was relaunched {launches} times (limit reached)"
            )
            _settle(results, remaining, "timeout" if left <= 0 else "error", why)
            break
        launch = _launch(request, remaining, scratch, launches, deadline=time.monotonic() + left)
        launches += 1
        results.update(launch.finished)
        remaining = _attribute(launch, remaining, results, request.limits)
    ordered = [results[n] for n in request.nodeids if n in results]
    return ShardOutcome(
        shard_id=request.shard_id,
        results=ordered,
        launches=launches,
        wall_seconds=time.monotonic() - begin,
    )


def _attribute(
    launch: _Launch, remaining: list[str], results: dict[str, CaseResult], limits: Limits
) -> list[str]:
    """Give the test that was running its blame; return the tests still to run."""
    tail = tail_text(launch.output, TAIL_BYTES)
    culprit = launch.current
    if culprit is not None and culprit not in results:
        outcome: Outcome = "timeout" if launch.fired else "crashed"
        why = launch.fired or f"the test process died ({describe_exit(launch.exit_code)})"
        results[culprit] = CaseResult(
            nodeid=culprit,
            outcome=outcome,
            duration=time.time() - (launch.current_started or time.time()),
            message=f"{why}; last output:\n{tail}",
            started_at=launch.current_started,
            finished_at=time.time(),
        )
    left = [n for n in remaining if n not in results]
    if not left or culprit is not None:
        return left  # the rest runs again in a fresh process without the culprit
    return _settle_unrun(launch, left, results, tail)


def _settle_unrun(
    launch: _Launch, left: list[str], results: dict[str, CaseResult], tail: str
) -> list[str]:
    """The process ended while no test was running, leaving tests without a result."""
    not_found = set(_NOT_FOUND.findall(tail)) & set(left)
    if launch.exit_code == 4 and not_found:
        _settle(results, sorted(not_found), "error", "not found by pytest at run time")
        return [n for n in left if n not in not_found]
    for nodeid in left:
        message = _collect_error_for(nodeid, launch.collect_errors)
        if message is None:
            if launch.fired:
                message = f"not run: {launch.fired} outside any test"
            elif launch.exit_code in PYTEST_EXITS:
                message = f"not run by pytest ({describe_exit(launch.exit_code)})"
            else:
                message = (
                    f"not run: pytest died outside any test ({describe_exit(launch.exit_code)})"
                )
            message += f"; last output:\n{tail}"
        results[nodeid] = CaseResult(nodeid=nodeid, outcome="error", message=message)
    return []


def _collect_error_for(nodeid: str, errors: dict[str, str]) -> str | None:
    for prefix, message in errors.items():
        if nodeid == prefix or nodeid.startswith(prefix + "::") or not prefix:
            return f"collection error in {prefix or 'session'}: {message}"
    return None


def _settle(results: dict[str, CaseResult], nodeids: list[str], outcome: Outcome, why: str) -> None:
    for nodeid in nodeids:
        results[nodeid] = CaseResult(nodeid=nodeid, outcome=outcome, message=why)


def _launch(
    request: ShardRequest, nodeids: list[str], scratch: Path, index: int, deadline: float
) -> _Launch:
    events_path = scratch / f"events-{index}.jsonl"
    output_path = scratch / f"output-{index}.log"
    args_path = scratch / f"args-{index}.txt"
    args_path.write_text("\n".join(nodeids) + "\n", encoding="utf-8")
    events_path.write_bytes(b"")
    env = {
        **os.environ,
        **request.env,
        EVENTS_ENV: str(events_path),
        OUTPUT_LIMIT_ENV: str(request.limits.output_limit_bytes),
    }
    argv = [
        request.python, "-m", "pytest", "-p", "dtf", "-p", "no:cacheprovider",
        "--continue-on-collection-errors", "-q", "--no-header", "-rN", f"@{args_path}",
    ]  # fmt: skip
    proc = GroupProcess(argv, cwd=request.rootdir, env=env, output=output_path)
    return _watch(proc, events_path, output_path, request.limits, deadline)


def _watch(
    proc: GroupProcess, events_path: Path, output_path: Path, limits: Limits, deadline: float
) -> _Launch:
    state = _WatchState()
    with events_path.open("rb") as events:
        while True:
            exit_code = proc.poll()
            state.absorb(events.read(), output_path)
            if exit_code is not None:
                proc.reap()
                state.absorb(events.read(), output_path)
                break
            fired = state.limit_fired(limits, deadline)
            if fired is not None:
                exit_code = proc.kill_group()
                state.absorb(events.read(), output_path)
                state.fired = fired
                break
            time.sleep(POLL_SECONDS)
    return _Launch(
        finished=state.finished,
        collect_errors=state.collect_errors,
        current=state.current,
        current_started=state.current_wall,
        exit_code=exit_code,
        fired=state.fired,
        output=output_path,
    )


class _WatchState:
    """Tracks one pytest process's events as they arrive."""

    def __init__(self) -> None:
        self.finished: dict[str, CaseResult] = {}
        self.collect_errors: dict[str, str] = {}
        self.current: str | None = None
        self.current_wall: float | None = None
        self.current_since = 0.0
        self.fired: str | None = None
        self.tail = b""
        self.last_activity = time.monotonic()
        self.output_size = 0

    def absorb(self, data: bytes, output: Path) -> None:
        now = time.monotonic()
        try:
            size = output.stat().st_size
        except OSError:
            size = self.output_size
        if data or size != self.output_size:
            self.last_activity = now
            self.output_size = size
        events, self.tail = decode_lines(self.tail + data)
        for event in events:
            self._apply(event, now)

    def _apply(self, event: dict[str, Any], now: float) -> None:
        kind, nodeid = event.get("e"), str(event.get("id", ""))
        if kind == START:
            self.current, self.current_wall, self.current_since = nodeid, event.get("t"), now
        elif kind == FINISH:
            self.finished[nodeid] = _case_from(event, self.current_wall)
            self.current = None
        elif kind == COLLECT_ERROR:
            self.collect_errors[nodeid] = str(event.get("msg", ""))

    def limit_fired(self, limits: Limits, deadline: float) -> str | None:
        now = time.monotonic()
        if self.current is not None and now - self.current_since > limits.test_timeout:
            return f"test timeout of {limits.test_timeout:g}s expired"
        if now - self.last_activity > limits.idle_timeout:
            return f"idle timeout of {limits.idle_timeout:g}s expired (no event and no output)"
        if now > deadline:
            return f"shard timeout of {limits.shard_timeout:g}s expired"
        return None


def _case_from(event: dict[str, Any], started: float | None) -> CaseResult:
    metrics = tuple(
        Metric(str(m["name"]), float(m["value"]), str(m.get("unit", "")))
        for m in event.get("metrics", [])
    )
    outcome = str(event.get("outcome", "error"))
    return CaseResult(
        nodeid=str(event["id"]),
        outcome=outcome if outcome in _OUTCOMES else "error",  # type: ignore[arg-type]
        duration=float(event.get("duration", 0.0)),
        message=str(event.get("msg", "")),
        output=str(event.get("out", "")),
        started_at=started,
        finished_at=event.get("t"),
        metrics=metrics,
    )


_OUTCOMES = {"passed", "failed", "skipped", "xfailed", "xpassed", "error"}
