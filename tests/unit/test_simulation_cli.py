"""`dtf simulate`'s command line: its table, its JSON, and its errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from dtf.cli import app
from dtf.errors import DtfError


def test_simulate_prints_a_table_and_names_the_best_target() -> None:
    result = CliRunner().invoke(app, ["simulate", "--tests", "300", "--workers", "4",
                                      "--shard-target", "5", "--shard-target", "50"],
                                env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "300 tests, 4 workers; submit capacity 34 task runs/s" in result.output
    assert "best shard target:" in result.output


def test_simulate_kills_a_named_worker_and_reports_the_ladders_decision() -> None:
    args = ["simulate", "--tests", "40", "--workers", "2", "--median", "2", "--shard-target",
            "20", "--fail-at", "3:cpu-0", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    point = json.loads(result.output)["points"][0]
    assert point["worker_failures"] == 1
    assert point["recovery_counts"] == {"retry": 1}
    assert point["recoveries"][0]["worker"] == "cpu-0"


def test_simulate_rejects_an_unknown_worker() -> None:
    result = CliRunner().invoke(app, ["simulate", "--workers", "2", "--fail-at", "3:gpu-9"])
    assert isinstance(result.exception, DtfError)
    assert "no worker named 'gpu-9'" in str(result.exception)
