"""Shell-command suites: exit code and output are the result, under the same kill limits."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from dtf.errors import SpecError
from dtf.execution.command import command_test_id, run_command_shard
from dtf.spec import parse_campaign
from dtf.spec.models import Limits

FAST = Limits(test_timeout=3, shard_timeout=30, idle_timeout=2, output_limit_bytes=2000)


def _run(command: str, tmp_path: Path, limits: Limits = FAST) -> tuple[str, str, float]:
    began = time.monotonic()
    env = {"GREETING": "hello"}
    outcome = run_command_shard(
        "cmd-000", "script", command, cwd=tmp_path, env=env, limits=limits, scratch=tmp_path
    )
    [result] = outcome.results
    assert result.nodeid == command_test_id("script") == "script::command"
    return result.outcome, result.message + result.output, time.monotonic() - began


def test_exit_zero_passes_and_runs_in_the_source_directory_with_the_suite_env(
    tmp_path: Path,
) -> None:
    (tmp_path / "marker.txt").write_text("here")
    outcome, text, _ = _run('cat marker.txt && echo "$GREETING"', tmp_path)
    assert outcome == "passed" and "here" in text and "hello" in text


def test_a_non_zero_exit_fails_with_its_code_and_output(tmp_path: Path) -> None:
    outcome, text, _ = _run("echo broken >&2; exit 3", tmp_path)
    assert outcome == "failed" and "exit code 3" in text and "broken" in text


def test_a_hanging_command_times_out_and_its_whole_group_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    # The command prints steadily (so only the command timeout can fire) and leaves a child.
    command = f"sleep 300 & echo $! > {pidfile}; while true; do echo tick; sleep 0.5; done"
    outcome, text, took = _run(command, tmp_path)
    assert outcome == "timeout" and "command timeout of 3s expired" in text
    assert took < 3 + 10
    assert _dies(int(pidfile.read_text()))


def _dies(pid: int, within: float = 5.0) -> bool:
    """Whether `pid` is gone (or a zombie) within `within` s: SIGKILL takes effect once the
    process is next scheduled, which on a loaded machine is not at once."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_a_silent_command_hits_the_idle_timeout(tmp_path: Path) -> None:
    limits = Limits(test_timeout=60, shard_timeout=60, idle_timeout=1, output_limit_bytes=2000)
    outcome, text, took = _run("sleep 30", tmp_path, limits)
    assert outcome == "timeout" and "idle timeout of 1s expired" in text and took < 15


def test_output_is_cut_to_the_limit(tmp_path: Path) -> None:
    outcome, text, _ = _run("head -c 200000 /dev/zero | tr '\\0' x; exit 1", tmp_path)
    assert outcome == "failed" and "kept the last 2000 of 200000 bytes" in text
    assert len(text) < 10_000


@pytest.mark.parametrize(
    ("suite", "message"),
    [
        ("{name: s, kind: command}", "needs a 'command'"),
        ("{name: s, command: 'make test'}", "only for suites of kind 'command'"),
    ],
)
def test_command_and_kind_must_agree(suite: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_campaign(f"name: c\nsuites:\n  - {suite}\n", "c.yaml")


def test_a_command_suite_parses(tmp_path: Path) -> None:
    spec = parse_campaign("name: c\nsuites:\n  - {name: s, kind: command, command: 'make test'}\n")
    assert spec.suites[0].command == "make test"
    assert os.environ.get("GREETING") is None  # the suite env never leaks into this process
