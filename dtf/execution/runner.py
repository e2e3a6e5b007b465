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

from dtf.environments.shard import process_environment
from dtf.execution.events import (
    EVENTS_ENV,
    OUTPUT_LIMIT_ENV,
    SELECT_ENV,
    clean_text,
)
from dtf.execution.outcomes import CaseResult, Outcome, ShardOutcome
from dtf.execution.process import GroupProcess, describe_exit, tail_text
from dtf.execution.watch import WatchState
from dtf.spec.models import Limits

POLL_SECONDS = 0.05
TAIL_BYTES = 4000
FAULTHANDLER_BANNER = "Fatal Python error:"
ABORT_BANNER = "Fatal Python error: Aborted"
TIMEOUT_BANNER = "Stack when the limit fired (faulthandler's dump on dtf's SIGABRT):"
# pytest's own exit codes: all passed, some failed, interrupted, internal, usage, none collected.
PYTEST_EXITS = {0, 1, 2, 3, 4, 5}
# How pytest names an argument it could not use, before running nothing at all.
_NOT_FOUND = re.compile(
    r"^ERROR: (?:file or directory not found|found no collectors for|not found):? (.+)$",
    re.MULTILINE,
)
NOT_FOUND_BYTES = 1_000_000
STALE = "not found by pytest at run time (a stale test id?)"


@dataclass(frozen=True)
class ShardRequest:
    """Everything needed to run one shard's tests on this machine."""

    shard_id: str
    nodeids: tuple[str, ...]
    rootdir: Path
    limits: Limits = field(default_factory=Limits)
    python: str = sys.executable
    # Laid over the worker's allowed variables (dtf.environments.shard.WORKER_VARIABLES).
    env: Mapping[str, str] = field(default_factory=dict)
    scratch: Path | None = None
    # False: the shard is handed back once pytest's session has ended with every test's
    # result in, and the process's exit is reaped in the background.
    wait_for_exit: bool = False


@dataclass
class _Launch:
    """What one pytest process did before it ended or was killed."""

    finished: dict[str, CaseResult]
    collect_errors: dict[str, str]
    missing: list[str]
    current: str | None
    current_started: float | None
    collecting: str | None
    exit_code: int
    fired: str | None
    output: Path


def run_shard(request: ShardRequest) -> ShardOutcome:
    """Run every test of the shard once; each gets exactly one result, whatever happens.

    The events and output of each launch go to `request.scratch`, kept for inspection; without
    one, to a temporary directory removed at the end.
    """
    if request.scratch is not None:
        request.scratch.mkdir(parents=True, exist_ok=True)
        return _run(request, request.scratch)
    # The process may still be exiting when this goes (see _watch).
    with tempfile.TemporaryDirectory(prefix=f"dtf-{request.shard_id}-",
                                     ignore_cleanup_errors=True) as scratch:  # fmt: skip
        return _run(request, Path(scratch))


def _run(request: ShardRequest, scratch: Path) -> ShardOutcome:
    begin = time.monotonic()
    wanted = list(dict.fromkeys(request.nodeids))  # a test listed twice still runs once
    results: dict[str, CaseResult] = {}
    base = request.rootdir
    gone = [n for n in wanted if not (base / _file_of(n)).exists()]
    _settle(results, gone, "error", f"{STALE}: its file does not exist")
    remaining = [n for n in wanted if n not in results]
    launches = 0
    limits = request.limits
    while remaining:
        left = limits.shard_timeout - (time.monotonic() - begin)
        if left <= 0:
            why = f"not run: shard timeout of {limits.shard_timeout:g}s expired"
            _settle(results, remaining, "timeout", why)
            break
        if launches > limits.max_relaunches:
            why = f"not run: the shard was launched {launches} times (max_relaunches reached)"
            _settle(results, remaining, "error", why)
            break
        launch = _launch(request, remaining, scratch, launches, deadline=time.monotonic() + left)
        launches += 1
        results.update(launch.finished)
        remaining = _attribute(launch, remaining, results, request)
    return ShardOutcome(
        shard_id=request.shard_id,
        results=[results[n] for n in wanted if n in results],
        launches=launches,
        wall_seconds=time.monotonic() - begin,
    )


def _attribute(
    launch: _Launch, remaining: list[str], results: dict[str, CaseResult], request: ShardRequest
) -> list[str]:
    """Give the test (or module) that was running its blame; return the tests still to run."""
    tail = _last_words(launch.output)
    if launch.fired:
        # The abort was dtf's own request for a stack dump, not the test's doing.
        tail = tail.replace(ABORT_BANNER, TIMEOUT_BANNER, 1)
    culprit = launch.current
    blamed = culprit is not None and culprit not in results
    if culprit is not None and culprit not in results:
        results[culprit] = _blame(launch, culprit, tail)
    elif launch.collecting is not None and (launch.fired or launch.exit_code not in PYTEST_EXITS):
        blamed = _blame_collector(launch, launch.collecting, remaining, results, tail)
    _record_collect_errors(launch, remaining, results)
    missing = [n for n in launch.missing if n not in results]
    _settle(results, missing, "error", STALE)
    if launch.exit_code == 4 and not launch.finished:
        _record_not_found(launch, remaining, results, request.rootdir)
    left = [n for n in remaining if n not in results]
    if not left:
        return []
    progressed = len(left) < len(remaining)
    if progressed and (blamed or launch.fired is None):
        # The rest runs again in a fresh process: without the culprit, without what pytest
        # could not collect, or after pytest stopped on its own (-x, --maxfail). Each launch
        # settles at least one test and max_relaunches bounds them all.
        return left
    return _settle_unrun(launch, left, results, tail)


def _record_collect_errors(
    launch: _Launch, remaining: list[str], results: dict[str, CaseResult]
) -> None:
    for nodeid in remaining:
        if nodeid not in results:
            message = _collect_error_for(nodeid, launch.collect_errors)
            if message is not None:
                results[nodeid] = CaseResult(nodeid=nodeid, outcome="error", message=message)


def _record_not_found(
    launch: _Launch, remaining: list[str], results: dict[str, CaseResult], rootdir: Path
) -> None:
    """pytest refused a module it was given (gone, or nothing collects it): its tests are
    errors, and the rest runs again without them."""
    base = rootdir.resolve()
    refused = set()
    for line in _NOT_FOUND.findall(tail_text(launch.output, NOT_FOUND_BYTES)):
        path = Path(base / _file_of(line.strip()))
        refused.add(Path(os.path.relpath(path, base)).as_posix())
    for nodeid in remaining:
        if nodeid not in results and _file_of(nodeid) in refused:
            message = f"{STALE}: pytest could not collect {_file_of(nodeid)}"
            results[nodeid] = CaseResult(nodeid=nodeid, outcome="error", message=message)


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _last_words(output: Path) -> str:
    """The end of the process's output, or faulthandler's stack dump when there is one."""
    text = tail_text(output, 4 * TAIL_BYTES)
    dump = text.rfind(FAULTHANDLER_BANNER)
    # A dump lists the innermost frames (the test's own) first: keep its start.
    text = text[-TAIL_BYTES:] if dump < 0 else text[dump : dump + TAIL_BYTES]
    return clean_text(text, TAIL_BYTES).strip() or "(none)"


def _blame(launch: _Launch, culprit: str, tail: str) -> CaseResult:
    now = time.time()
    if launch.fired:
        outcome: Outcome = "timeout"
        why = f"{launch.fired}; the process group was killed"
    else:
        outcome = "crashed"
        why = f"the test process died ({describe_exit(launch.exit_code)})"
    return CaseResult(
        nodeid=culprit,
        outcome=outcome,
        duration=now - (launch.current_started or now),
        message=f"{why}; last output:\n{tail}",
        started_at=launch.current_started,
        finished_at=now,
    )


def _blame_collector(
    launch: _Launch, collector: str, remaining: list[str], results: dict[str, CaseResult], tail: str
) -> bool:
    """The process went while collecting (importing a module, a conftest): its tests share
    the blame. Returns whether any test was blamed."""
    if launch.fired:
        outcome: Outcome = "timeout"
        why = f"{launch.fired} while collecting {collector}"
    else:
        outcome = "crashed"
        died = describe_exit(launch.exit_code)
        why = f"the test process died while collecting {collector} ({died})"
    message = f"{why}; last output:\n{tail}"
    inside = (collector + "::", collector + "/")
    blamed = [n for n in remaining if n not in results and (n == collector or n.startswith(inside))]
    _settle(results, blamed, outcome, message)
    return bool(blamed)


def _settle_unrun(
    launch: _Launch, left: list[str], results: dict[str, CaseResult], tail: str
) -> list[str]:
    """The process ended while no test was running, leaving tests without a result."""
    outcome: Outcome = "timeout" if launch.fired else "error"
    _settle(results, left, outcome, _why_unrun(launch) + f"; last output:\n{tail}")
    return []


def _why_unrun(launch: _Launch) -> str:
    if launch.fired:
        return f"not run: {launch.fired} outside any test"
    if launch.exit_code in PYTEST_EXITS:
        return f"not run by pytest ({describe_exit(launch.exit_code)})"
    return f"not run: pytest died outside any test ({describe_exit(launch.exit_code)})"


def _collect_error_for(nodeid: str, errors: dict[str, str]) -> str | None:
    for prefix, message in errors.items():
        if not prefix or nodeid == prefix or nodeid.startswith((prefix + "::", prefix + "/")):
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
    select_path = scratch / f"select-{index}.txt"
    # pytest gets the modules (one argument per line of an @file: no ARG_MAX) and dtf's
    # plugin keeps the shard's tests of them: pytest's own node id matching is quadratic.
    modules = dict.fromkeys(_file_of(n) for n in nodeids)
    args_path.write_text("".join(f"{m}\n" for m in modules), encoding="utf-8")
    select_path.write_text("".join(f"{n}\n" for n in nodeids), encoding="utf-8")
    events_path.write_bytes(b"")
    # A clean room: of the worker's own variables only the allowed ones reach the tests.
    env = process_environment({
        **request.env,
        EVENTS_ENV: str(events_path),
        OUTPUT_LIMIT_ENV: str(request.limits.output_limit_bytes),
        SELECT_ENV: str(select_path),
    })  # fmt: skip
    argv = [
        request.python, "-m", "pytest", "-p", "dtf", "-p", "no:cacheprovider",
        "--continue-on-collection-errors", "-q", "--no-header", "-rN",
        # The events carry each test's output; repeating it in the log only costs disk.
        "--show-capture=no", f"@{args_path}",
    ]  # fmt: skip
    proc = GroupProcess(argv, cwd=request.rootdir, env=env, output=output_path)
    early = None if request.wait_for_exit else set(nodeids)
    return _watch(proc, events_path, output_path, request.limits, deadline, early)


def _watch(
    proc: GroupProcess,
    events_path: Path,
    output_path: Path,
    limits: Limits,
    deadline: float,
    hand_back: set[str] | None,
) -> _Launch:
    """Follow the process to its end, or, with `hand_back`, until its session has ended with
    a result for each of those tests."""
    state = WatchState(output_path)
    with events_path.open("rb") as events:
        while True:
            exit_code = proc.poll()
            state.absorb(events.read())
            if exit_code is not None:
                proc.reap()  # the group may outlive its leader: orphans go too
                state.absorb(events.read())
                break
            if (
                state.session_status is not None
                and hand_back
                and state.finished.keys() >= hand_back
            ):
                # Every test has its result and pytest's session is over: the interpreter's
                # own exit (plugins' exit work, 0.1-0.5 s) happens, and is reaped, meanwhile.
                proc.reap_later()
                exit_code = state.session_status
                break
            fired = state.limit_fired(limits, deadline)
            if fired is not None:
                exit_code = proc.kill_group(dump_stack=True)
                state.absorb(events.read())
                state.fired = fired
                break
            time.sleep(POLL_SECONDS)
    return _Launch(
        finished=state.finished,
        collect_errors=state.collect_errors,
        missing=state.missing,
        current=state.current,
        current_started=state.current_wall,
        collecting=state.collecting,
        exit_code=exit_code,
        fired=state.fired,
        output=output_path,
    )
