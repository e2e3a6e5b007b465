"""run_shard on a real misbehaving pytest project: every test gets exactly one true result."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from dtf.execution import process
from dtf.execution.outcomes import CaseResult, Metric, ShardOutcome
from dtf.execution.process import DUMP_WAIT_SECONDS, KILL_GRACE_SECONDS
from dtf.execution.runner import ShardRequest, run_shard
from dtf.spec.models import Limits
from dtf.store.results import ResultStore, ShardRecord

NASTY = Path(__file__).resolve().parent.parent / "fixtures" / "nasty"
# What starting one pytest process may cost on a loaded 2-core machine, generously.
LAUNCH_SLACK = 8.0
KILL_COST = DUMP_WAIT_SECONDS + KILL_GRACE_SECONDS
# Starting pytest counts as silence too: an idle limit must leave room for it.
IDLE = 3.0


@dataclass
class Ran:
    """A shard's outcome, how long run_shard took, and where its processes were recorded."""

    outcome: ShardOutcome
    elapsed: float
    pid_file: Path

    def __getitem__(self, nodeid: str) -> CaseResult:
        return {r.nodeid: r for r in self.outcome.results}[nodeid]


def run(
    tmp_path: Path,
    ids: list[str],
    env: dict[str, str] | None = None,
    *,
    autoload: bool = False,
    wait_for_exit: bool = False,
    **limits: float,
) -> Ran:
    """run_shard on `ids` of the nasty project, checking what every scenario must satisfy.

    Without `autoload`, pytest loads only dtf's plugin (-p dtf), not every plugin installed
    here (hypothesis, xdist, ...): a launch then costs 0.2 s of CPU instead of 1.4 s.
    """
    pid_file = tmp_path / "pids.txt"
    quiet = {} if autoload else {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    request = ShardRequest(
        shard_id="nasty",
        nodeids=tuple(ids),
        rootdir=NASTY,
        limits=Limits(**{"test_timeout": 60, "idle_timeout": 60, **limits}),  # type: ignore[arg-type]
        env={"NASTY_PID_FILE": str(pid_file), **quiet, **(env or {})},
        scratch=tmp_path / "scratch",
        wait_for_exit=wait_for_exit,
    )
    begin = time.monotonic()
    outcome = run_shard(request)
    ran = Ran(outcome, time.monotonic() - begin, pid_file)
    assert [r.nodeid for r in outcome.results] == list(dict.fromkeys(ids)), "one result each"
    assert_reaped(ran)
    return ran


def assert_reaped(ran: Ran) -> None:
    """Every process group the shard started, and every child its tests left, is gone."""
    lines = [line.split() for line in ran.pid_file.read_text().splitlines()]
    groups = {int(n) for kind, n in lines if kind == "group"}
    children = {int(n) for kind, n in lines if kind == "child"}
    assert len(groups) == ran.outcome.launches
    deadline = time.monotonic() + 5  # SIGKILL is delivered asynchronously
    while (alive := _alive(groups, children)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive, f"left behind: {alive}"


def _alive(groups: set[int], children: set[int]) -> list[str]:
    alive = []
    for pgid in groups:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            continue
        members = [p for p in psutil.process_iter(["status"]) if _pgid(p.pid) == pgid]
        # A zombie is dead already, only not yet reaped by its new parent.
        alive += [f"group {pgid}: pid {p.pid}" for p in members if not _zombie(p)]
    for pid in children:
        try:
            child = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        if not _zombie(child):
            alive.append(f"child {pid}")
    return alive


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _zombie(process: psutil.Process) -> bool:
    try:
        return bool(process.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def outcomes(ran: Ran) -> dict[str, str]:
    return {r.nodeid.split("::", 1)[1]: r.outcome for r in ran.outcome.results}


def test_ordinary_outcomes_messages_output_and_metrics(tmp_path: Path) -> None:
    names = ["test_pass", "test_pass_stderr", "test_fail", "test_skip", "test_xfail",
             "test_xpass", "test_fixture_error", "test_teardown_error", "test_metrics",
             "test_metric_nan", "test_metric_nan_swallowed", "test_odd_ids[a b]",
             "test_odd_ids[x::y]", "test_odd_ids[\\xfcn\\xef]"]  # fmt: skip
    # With every installed plugin, as a real suite runs: dtf's must coexist with them.
    ran = run(tmp_path, [f"test_outcomes.py::{n}" for n in names], autoload=True)
    assert outcomes(ran) == {
        "test_pass": "passed", "test_pass_stderr": "passed", "test_fail": "failed",
        "test_skip": "skipped", "test_xfail": "xfailed", "test_xpass": "xpassed",
        "test_fixture_error": "error", "test_teardown_error": "error", "test_metrics": "passed",
        "test_metric_nan": "error", "test_metric_nan_swallowed": "error",
        "test_odd_ids[a b]": "passed", "test_odd_ids[x::y]": "passed",
        "test_odd_ids[\\xfcn\\xef]": "passed",
    }  # fmt: skip
    assert ran.outcome.launches == 1
    assert "hello from test_pass" in ran["test_outcomes.py::test_pass"].output
    assert "to stderr" in ran["test_outcomes.py::test_pass_stderr"].output
    fail = ran["test_outcomes.py::test_fail"]
    assert "arithmetic is broken" in fail.message
    assert "output before the failure" in fail.output
    assert "skipped on purpose" in ran["test_outcomes.py::test_skip"].message
    assert ran["test_outcomes.py::test_xfail"].message == "known bug 42"
    assert "setup" in ran["test_outcomes.py::test_fixture_error"].message
    assert "fixture exploded" in ran["test_outcomes.py::test_fixture_error"].message
    assert "teardown exploded" in ran["test_outcomes.py::test_teardown_error"].message
    assert ran["test_outcomes.py::test_metrics"].metrics == (
        Metric("throughput", 1234.5, "items/s"),
        Metric("latency", 4.0, "ms"),
    )
    nan = ran["test_outcomes.py::test_metric_nan"]
    assert "invalid dtf_metric" in nan.message
    assert "must be a finite number, got nan" in nan.message
    assert nan.metrics == ()
    assert "got inf" in ran["test_outcomes.py::test_metric_nan_swallowed"].message
    started = [r.started_at for r in ran.outcome.results]
    assert all(s is not None for s in started)


def test_crashes_are_named_and_the_rest_runs_again(tmp_path: Path) -> None:
    names = ["test_before", "test_segfault_signal", "test_segfault_ctypes", "test_exit_3",
             "test_abort", "test_after", "test_after_2"]  # fmt: skip
    ran = run(tmp_path, [f"test_crash.py::{n}" for n in names])
    assert outcomes(ran) == {
        "test_before": "passed", "test_segfault_signal": "crashed",
        "test_segfault_ctypes": "crashed", "test_exit_3": "crashed", "test_abort": "crashed",
        "test_after": "passed", "test_after_2": "passed",
    }  # fmt: skip
    assert ran.outcome.launches == 5  # the first, then one after each crash
    for name in ("test_segfault_signal", "test_segfault_ctypes"):
        message = ran[f"test_crash.py::{name}"].message
        assert "killed by SIGSEGV" in message
        # The tail is faulthandler's dump, which starts at the test's own frame.
        assert "Fatal Python error: Segmentation fault" in message
        assert 'test_crash.py", line' in message
    assert "in test_segfault_signal" in ran["test_crash.py::test_segfault_signal"].message
    assert "exit code 3" in ran["test_crash.py::test_exit_3"].message
    abort = ran["test_crash.py::test_abort"].message
    assert "killed by SIGABRT" in abort and "in test_abort" in abort
    # No limit fired: the runner noticed each death at once instead of waiting on a timeout.
    assert ran.elapsed < 45, ran.elapsed


def test_hangs_time_out_naming_the_limit_and_where_they_hung(tmp_path: Path) -> None:
    names = ["test_quick", "test_sleep_forever", "test_busy_loop",
             "test_sleep_in_thread_join", "test_signals_blocked", "test_quick_2"]  # fmt: skip
    ran = run(tmp_path, [f"test_hang.py::{n}" for n in names], test_timeout=1)
    assert outcomes(ran) == {
        "test_quick": "passed", "test_sleep_forever": "timeout", "test_busy_loop": "timeout",
        "test_sleep_in_thread_join": "timeout", "test_signals_blocked": "timeout",
        "test_quick_2": "passed",
    }  # fmt: skip
    for name in names[1:-1]:
        result = ran[f"test_hang.py::{name}"]
        assert result.message.startswith("test timeout of 1s expired"), result.message
        assert 1.0 <= result.duration < 1.0 + KILL_COST + LAUNCH_SLACK, result.duration
    # Killable hangs leave a stack dump that shows where they hung.
    for name in ("test_sleep_forever", "test_busy_loop"):
        message = ran[f"test_hang.py::{name}"].message
        assert "Stack when the limit fired" in message and f"in {name}" in message
    assert "in join" in ran["test_hang.py::test_sleep_in_thread_join"].message
    # Blocked SIGABRT and SIGTERM: only the SIGKILL after the grace period ended it.
    assert ran["test_hang.py::test_signals_blocked"].duration >= 1.0 + KILL_GRACE_SECONDS
    assert ran.outcome.launches == 5
    assert ran.elapsed < 4 * 1.0 + KILL_COST + 4 * 0.5 + 5 * LAUNCH_SLACK, ran.elapsed


def test_idle_timeout_fires_on_silence(tmp_path: Path) -> None:
    ids = ["test_hang.py::test_sleep_forever", "test_hang.py::test_quick"]
    ran = run(tmp_path, ids, idle_timeout=IDLE)
    hung = ran["test_hang.py::test_sleep_forever"]
    assert hung.outcome == "timeout"
    assert hung.message.startswith(f"idle timeout of {IDLE:g}s expired (no event and no output)")
    assert ran["test_hang.py::test_quick"].outcome == "passed"
    assert ran.elapsed < IDLE + KILL_COST + 2 * LAUNCH_SLACK, ran.elapsed


def test_shard_timeout_stops_the_shard(tmp_path: Path) -> None:
    ids = ["test_hang.py::test_quick", "test_hang.py::test_sleep_forever",
           "test_hang.py::test_quick_2"]  # fmt: skip
    ran = run(tmp_path, ids, shard_timeout=5)
    assert outcomes(ran) == {
        "test_quick": "passed",
        "test_sleep_forever": "timeout",
        "test_quick_2": "timeout",
    }
    assert ran["test_hang.py::test_sleep_forever"].message.startswith("shard timeout of 5s expired")
    assert ran["test_hang.py::test_quick_2"].message == "not run: shard timeout of 5s expired"
    assert ran.outcome.launches == 1
    assert 5 <= ran.elapsed < 5 + KILL_COST + LAUNCH_SLACK, ran.elapsed


@pytest.mark.parametrize("max_relaunches", [0, 1])
def test_relaunches_are_bounded(tmp_path: Path, max_relaunches: int) -> None:
    # In the order they run: a shard runs module by module, each in file order.
    ids = ["test_crash.py::test_exit_3", "test_crash.py::test_pytest_exit",
           "test_crash.py::test_after"]  # fmt: skip
    ran = run(tmp_path, ids, max_relaunches=max_relaunches)
    assert ran.outcome.launches == max_relaunches + 1
    assert "exit code 3" in ran["test_crash.py::test_exit_3"].message
    crashed = ids[: max_relaunches + 1]
    assert [r.outcome for r in ran.outcome.results] == (
        ["crashed"] * len(crashed) + ["error"] * (len(ids) - len(crashed))
    )
    for result in ran.outcome.results[len(crashed) :]:
        assert "max_relaunches reached" in result.message
    if max_relaunches:
        # pytest.exit() in a test ends the session: that test is the culprit.
        assert "exit code 7" in ran["test_crash.py::test_pytest_exit"].message


@pytest.mark.parametrize("linger", ["NASTY_SUMMARY_SECONDS", "NASTY_EXIT_SECONDS"])
def test_a_shard_is_handed_back_at_its_session_end_and_its_lingering_exit_reaped_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, linger: str
) -> None:
    # The process would linger 60 s in its terminal summary or at exit; the reaper gives it
    # 2 s, then kills its group.
    monkeypatch.setattr(process, "EXIT_GRACE_SECONDS", 2.0)
    ids = ["test_outcomes.py::test_pass", "test_outcomes.py::test_fail"]
    ran = run(tmp_path, ids, {linger: "60"})  # run() checks all is reaped
    assert outcomes(ran) == {"test_pass": "passed", "test_fail": "failed"}
    assert ran.outcome.launches == 1 and ran.elapsed < LAUNCH_SLACK


def test_a_shard_that_must_wait_for_its_process_s_exit_does(tmp_path: Path) -> None:
    # A device shard: its process holds the device until it has exited.
    ran = run(tmp_path, ["test_outcomes.py::test_pass"], {"NASTY_EXIT_SECONDS": "3"},
              wait_for_exit=True)  # fmt: skip
    assert outcomes(ran) == {"test_pass": "passed"} and ran.elapsed >= 3


def test_children_that_outlive_their_test_are_reaped(tmp_path: Path) -> None:
    names = ["test_leaves_a_child", "test_leaves_a_stubborn_child",
             "test_leaves_a_child_then_hangs", "test_after_orphans"]  # fmt: skip
    ran = run(tmp_path, [f"test_orphans.py::{n}" for n in names], test_timeout=2)
    assert outcomes(ran) == {
        "test_leaves_a_child": "passed", "test_leaves_a_stubborn_child": "passed",
        "test_leaves_a_child_then_hangs": "timeout", "test_after_orphans": "passed",
    }  # fmt: skip
    children = [line for line in ran.pid_file.read_text().splitlines() if line.startswith("child")]
    assert len(children) == 3  # run() has checked that every one of them is gone


def test_noisy_output_is_cut_marked_and_storable(tmp_path: Path) -> None:
    names = ["test_megabytes", "test_megabytes_then_fail", "test_invalid_utf8",
             "test_invalid_utf8_failure", "test_junk_then_crash"]  # fmt: skip
    limit = 20_000
    ran = run(tmp_path, [f"test_noise.py::{n}" for n in names], output_limit_bytes=limit)
    assert outcomes(ran) == {
        "test_megabytes": "passed", "test_megabytes_then_fail": "failed",
        "test_invalid_utf8": "passed", "test_invalid_utf8_failure": "failed",
        "test_junk_then_crash": "crashed",
    }  # fmt: skip
    big = ran["test_noise.py::test_megabytes"].output
    assert len(big.encode()) <= limit
    assert "dtf truncated" in big and big.rstrip().endswith("THE END OF THE NOISE")
    assert big.startswith("--- Captured stdout call ---")
    failed = ran["test_noise.py::test_megabytes_then_fail"]
    assert "failed after 3 MiB of output" in failed.message
    assert len(failed.output.encode()) <= limit and "dtf truncated" in failed.output
    junk = ran["test_noise.py::test_invalid_utf8"].output
    assert "bad bytes: \ufffd" in junk and "nul:\\x00 end" in junk and "stderr junk" in junk
    assert "nul \\x00 in a message" in ran["test_noise.py::test_invalid_utf8_failure"].message
    crash = ran["test_noise.py::test_junk_then_crash"].message
    assert "exit code 5" in crash and "UNCAPTURED \ufffd\ufffd\\x00 junk" in crash
    for result in ran.outcome.results:
        for text in (result.message, result.output):
            assert "\x00" not in text
            text.encode("utf-8")  # strict: no lone surrogates left
    _round_trip_through_duckdb(tmp_path, ran.outcome)


def _round_trip_through_duckdb(tmp_path: Path, outcome: ShardOutcome) -> None:
    store = ResultStore(f"duckdb:///{tmp_path / 'results.duckdb'}")
    try:
        store.start_run("run-noise", "nasty", source=str(NASTY), parameters={})
        record = ShardRecord("run-noise", outcome.shard_id, "nasty", 1, {"cpu": 1}, 5, 1.0)
        store.write_shard(record, outcome)
        stored = {row["test_id"]: row for row in store.results_of("run-noise")}
    finally:
        store.close()
    assert set(stored) == {r.nodeid for r in outcome.results}
    for result in outcome.results:
        assert stored[result.nodeid]["outcome"] == result.outcome
        assert stored[result.nodeid]["message"] == result.message
        assert stored[result.nodeid]["output"] == result.output


def test_collection_errors_are_error_results(tmp_path: Path) -> None:
    ids = ["test_import_error.py::test_never_collected", "test_outcomes.py::test_pass"]
    ran = run(tmp_path, ids)
    broken = ran["test_import_error.py::test_never_collected"]
    assert broken.outcome == "error"
    assert broken.message.startswith("collection error in test_import_error.py")
    assert "dtf_nasty_module_that_does_not_exist" in broken.message
    assert ran["test_outcomes.py::test_pass"].outcome == "passed"
    assert ran.outcome.launches == 1  # the module that failed to import costs no relaunch


@pytest.mark.parametrize(
    ("mode", "outcome", "why"),
    [
        ("segfault", "crashed", "the test process died while collecting test_import_crash.py"),
        ("hang", "timeout", f"idle timeout of {IDLE:g}s expired"),
    ],
)
def test_a_module_that_dies_at_import_is_blamed(
    tmp_path: Path, mode: str, outcome: str, why: str
) -> None:
    ids = ["test_import_crash.py::test_in_crashing_module", "test_outcomes.py::test_pass",
           "test_import_crash.py::test_in_crashing_module_2"]  # fmt: skip
    ran = run(tmp_path, ids, env={"NASTY_AT_IMPORT": mode}, idle_timeout=IDLE)
    for nodeid in (ids[0], ids[2]):
        assert ran[nodeid].outcome == outcome
        assert ran[nodeid].message.startswith(why), ran[nodeid].message
        assert 'test_import_crash.py", line' in ran[nodeid].message  # where it died
    assert ran["test_outcomes.py::test_pass"].outcome == "passed"
    assert ran.outcome.launches == 2


def test_ids_that_no_longer_exist_are_errors(tmp_path: Path) -> None:
    ids = ["test_outcomes.py::test_gone", "test_outcomes.py::test_pass",
           "test_no_such_file.py::test_x", "test_outcomes.py::test_odd_ids[gone]",
           "test_outcomes.py::test_pass", "test_outcomes.py::test_odd_ids[a b]"]  # fmt: skip
    ran = run(tmp_path, ids)
    assert ran["test_outcomes.py::test_pass"].outcome == "passed"
    for nodeid in ("test_outcomes.py::test_gone", "test_no_such_file.py::test_x",
                   "test_outcomes.py::test_odd_ids[gone]"):  # fmt: skip
        assert ran[nodeid].outcome == "error"
        assert ran[nodeid].message.startswith("not found by pytest at run time"), ran[nodeid]
    assert ran["test_no_such_file.py::test_x"].message.endswith("its file does not exist")
    assert ran.outcome.launches == 1  # stale ids cost no relaunch
    # pytest reports a missing parameter without it, yet the existing ones still run.
    assert ran["test_outcomes.py::test_odd_ids[a b]"].outcome == "passed"
