"""`dtf run` on a terminal (a pseudo-terminal) draws its live progress rows, then the summary."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import time

import pytest

from tests.e2e.conftest import DTF, REPO, DtfCommand

pytestmark = pytest.mark.e2e

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_a_terminal(dtf_cli: DtfCommand, *args: str, timeout: float = 300) -> tuple[int, str]:
    """Run `dtf` with stdout and stderr on a pty; return its exit status and what it drew."""
    master, slave = pty.openpty()
    env = {**dtf_cli.env(), "TERM": "xterm-256color"}
    proc = subprocess.Popen([DTF, *args], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, start_new_session=True)  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        status = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return status, _ESCAPES.sub("", b"".join(chunks).decode(errors="replace"))


def test_dtf_run_on_a_terminal_shows_shards_per_hardware_and_an_eta(dtf_cli: DtfCommand) -> None:
    status, shown = run_on_a_terminal(
        dtf_cli, "run", "examples/quickstart/campaign.yaml", "-k", "not punctuation"
    )
    assert status == 0, shown[-3000:]
    # The quickstart plans cpu shards and cuda shards; each gets a row, the total an ETA.
    assert re.search(r"cpu .*\d+/\d+ shards \d+ running \d+ failed", shown), shown[-3000:]
    assert re.search(r"cuda .*\d+/\d+ shards \d+ running \d+ failed", shown), shown[-3000:]
    assert re.search(r"all .*\d+/\d+ shards \d+ running \d+ failed ETA", shown), shown[-3000:]
    assert "passed" in shown  # the summary follows the (transient) progress display
