"""The warm launcher: `dtf` commands run in a forked child of a process that imported dtf."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from dtf.server import stop_server
from dtf.warm.launcher import ensure_launcher, launcher_state, stop_launcher
from dtf.warm.protocol import MessageReader, compatibility_key, log_path, send_message, state_path
from dtf.warm.protocol import socket_path as launcher_socket

REPO = Path(__file__).resolve().parents[2]
DTF = str(Path(sys.executable).with_name("dtf"))
QUICKSTART = "examples/quickstart/campaign.yaml"  # relative: the client's cwd must travel


def client_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    for name in ("DTF_WARM", "DTF_DATABASE_URL"):
        env.pop(name, None)
    return {**env, "DTF_HOME": str(home), "COLUMNS": "200", **extra}


def dtf(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DTF, *args], cwd=REPO, env=client_env(home, **extra),
                          capture_output=True, text=True, timeout=180)  # fmt: skip


def served(home: Path) -> list[str]:
    return [line for line in log_path(home).read_text().splitlines() if " served " in line]


def wait_ready(home: Path, timeout: float = 90) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = launcher_state(home)
        if state is not None and launcher_socket(home).exists():
            return state
        time.sleep(0.2)
    pytest.fail(f"no warm launcher ready in {timeout} s; log:\n{log_path(home).read_text()}")


def wait_gone(pid: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def warm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A dtf home whose launcher is up (the suite turns launchers off; this test turns it on)."""
    home = tmp_path / "home"
    monkeypatch.delenv("DTF_WARM")
    assert ensure_launcher(home) is not None
    wait_ready(home)
    try:
        yield home
    finally:
        stop_launcher(home)


def test_plan_in_a_warm_child_equals_the_plan_run_here(warm_home: Path) -> None:
    warm = dtf(warm_home, "plan", QUICKSTART, "--json")
    assert warm.returncode == 0, warm.stderr
    assert len(served(warm_home)) == 1, log_path(warm_home).read_text()
    cold = dtf(warm_home, "plan", QUICKSTART, "--json", DTF_WARM="0")
    assert cold.returncode == 0, cold.stderr
    assert len(served(warm_home)) == 1  # DTF_WARM=0: run in the client
    assert json.loads(warm.stdout) == json.loads(cold.stdout)


def test_the_clients_environment_streams_and_exit_code_reach_the_child(
    warm_home: Path, tmp_path: Path
) -> None:
    url = f"duckdb:///{tmp_path / 'elsewhere.duckdb'}"
    done = dtf(warm_home, "show", "no-such-run", DTF_DATABASE_URL=url)
    assert done.returncode == 2
    assert f"no run 'no-such-run' in the results store {url}" in done.stderr
    assert done.stdout == ""
    assert len(served(warm_home)) == 1


def test_a_client_with_another_import_path_runs_the_command_itself(
    warm_home: Path, tmp_path: Path
) -> None:
    done = dtf(warm_home, "show", "no-such-run", PYTHONPATH=str(tmp_path))
    assert done.returncode == 2 and "no run 'no-such-run'" in done.stderr
    log = log_path(warm_home).read_text()
    assert "refused ['show', 'no-such-run']: key differs (env)" in log
    assert served(warm_home) == []
    assert launcher_state(warm_home) is not None  # not stale: it keeps serving


def test_a_launcher_on_changed_code_refuses_and_stops(warm_home: Path) -> None:
    state = wait_ready(warm_home)
    key = {**compatibility_key(), "code": "an-older-fingerprint"}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(launcher_socket(warm_home)))
        request = {"argv": ["show", "x"], "cwd": str(REPO), "env": {}, "key": key}
        send_message(sock, request, fds=[0, 1, 2])
        answer, _ = MessageReader(sock).receive()
    assert answer == {"refused": "incompatible"}
    assert wait_gone(int(str(state["pid"])))
    assert "key differs (code)" in log_path(warm_home).read_text()
    assert not state_path(warm_home).exists()


def test_ensure_replaces_a_launcher_whose_code_changed(warm_home: Path) -> None:
    old = wait_ready(warm_home)
    stale = {**old, "key": {**compatibility_key(), "packages": "before-a-pip-install"}}
    state_path(warm_home).write_text(json.dumps(stale))
    new_pid = ensure_launcher(warm_home)
    assert new_pid != old["pid"]
    assert wait_gone(int(str(old["pid"])))
    assert wait_ready(warm_home)["pid"] == new_pid


def _children_of_launcher(home: Path, launcher_pid: int) -> list[psutil.Process]:
    """The launcher's forked children (they keep its command line) that are still running."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        ours = "dtf.warm.launcher" in cmdline and str(home) in cmdline
        if ours and proc.pid != launcher_pid and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


@pytest.mark.parametrize("how", ["interrupt", "kill"])
def test_an_interrupted_or_killed_client_stops_its_command(warm_home: Path, how: str) -> None:
    launcher_pid = int(str(wait_ready(warm_home)["pid"]))
    # `dtf run` in a home without a server first starts one: seconds in which to interrupt it.
    client = subprocess.Popen(
        [DTF, "run", QUICKSTART], cwd=REPO, env=client_env(warm_home),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (warm_home / "prefect" / "server.json").exists():
            assert time.monotonic() < deadline and client.poll() is None, client.communicate()
            time.sleep(0.1)
        assert len(served(warm_home)) == 1
        assert _children_of_launcher(warm_home, launcher_pid)
        if how == "interrupt":
            client.send_signal(signal.SIGINT)  # forwarded to the child's process group
            _, err = client.communicate(timeout=60)
            assert client.returncode == 130, err  # as `dtf run` interrupted in a terminal
        else:
            client.kill()  # the child sees its connection close and interrupts itself
            client.communicate(timeout=30)
        deadline = time.monotonic() + 30
        while _children_of_launcher(warm_home, launcher_pid):
            assert time.monotonic() < deadline, "the command outlived its client"
            time.sleep(0.2)
    finally:
        client.kill()
        stop_server(warm_home)


# The launcher's child as a process of its own (what _fork runs after forking): it runs
# `dtf show --help` for a client, with a slow delivery registered to run after the command.
CHILD = """
import os, socket, sys, time
from pathlib import Path
from dtf.launching import after_command
from dtf.warm.launcher import _run_child

conn_fd, out_fd, marker = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])

def slow_delivery():
    time.sleep(6)
    marker.write_text("delivered")

after_command(slow_delivery)
request = {"cwd": os.getcwd(), "env": dict(os.environ), "argv": ["show", "--help"]}
_run_child(socket.socket(fileno=conn_fd), [os.open(os.devnull, os.O_RDONLY), out_fd, out_fd],
           request)
"""


def test_a_pipe_reading_a_warm_command_ends_before_its_after_command_work(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    (home / "warm").mkdir(parents=True)
    marker = tmp_path / "delivered"
    ours, theirs = socket.socketpair()
    out_read, out_write = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(theirs.fileno()), str(out_write), str(marker)],
        cwd=REPO, env=client_env(home), pass_fds=(theirs.fileno(), out_write),
    )  # fmt: skip
    theirs.close()
    os.close(out_write)
    try:
        reader = MessageReader(ours)
        assert "pid" in (reader.receive()[0] or {})
        send_message(ours, {"go": True})
        assert reader.receive()[0] == {"exit": 0}
        output = b""
        with open(out_read, "rb") as out:
            while chunk := out.read(65536):  # returns b"" once every writer has let go
                output += chunk
        # The client's pipe has ended while the child still delivers, then it finishes.
        assert child.poll() is None and not marker.exists()
        assert b"Usage: dtf show" in output
        assert child.wait(timeout=60) == 0
        assert marker.read_text() == "delivered"
    finally:
        child.kill()
        ours.close()
