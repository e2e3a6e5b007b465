"""What a command leaves to do before its process ends runs once, in order, each on its own."""

from __future__ import annotations

import pytest

from dtf.launching import after_command, run_after_command


def test_actions_run_once_in_order_and_a_failing_one_stops_none_of_the_others(
    capsys: pytest.CaptureFixture[str],
) -> None:
    done: list[str] = []

    def deliver_logs() -> None:
        done.append("logs")

    def broken() -> None:
        raise RuntimeError("server gone")

    def deliver_events() -> None:
        done.append("events")

    for action in (deliver_logs, broken, deliver_logs, deliver_events):
        after_command(action)
    run_after_command()
    assert done == ["logs", "events"]
    assert "RuntimeError: server gone" in capsys.readouterr().err
    run_after_command()  # forgotten once run
    assert done == ["logs", "events"]
