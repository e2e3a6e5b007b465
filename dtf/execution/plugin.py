"""dtf's pytest plugin: streams one JSON line per test event and provides `dtf_metric`.

It is inert unless DTF_EVENTS_FILE is set, emits no warnings and leaves the tested
process's global state alone: suites that turn warnings into errors run unchanged.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dtf.execution.events import (
    COLLECT_ERROR,
    COLLECTED,
    EVENTS_ENV,
    FINISH,
    OUTPUT_LIMIT_ENV,
    ROOTDIR,
    START,
    clean_text,
)

MAX_METRIC_NAME = 128
MAX_METRIC_UNIT = 32

MetricRecorder = Callable[[str, float, str], None]


class EventStream:
    """Appends events to the file the shard runner watches."""

    def __init__(self, path: str, output_limit: int):
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._output_limit = output_limit
        self._reports: dict[str, dict[str, pytest.TestReport]] = {}
        self.metrics: dict[str, list[dict[str, Any]]] = {}

    def emit(self, event: dict[str, Any]) -> None:
        # One write per line keeps each event whole even if the process dies right after.
        os.write(self._fd, json.dumps(event, separators=(",", ":")).encode() + b"\n")

    def close(self) -> None:
        os.close(self._fd)

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = clean_text(str(report.longrepr), self._output_limit)
            self.emit({"e": COLLECT_ERROR, "id": report.nodeid, "msg": text})

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if session.config.option.collectonly:
            self.emit({"e": ROOTDIR, "path": str(session.config.rootpath)})
            for item in session.items:
                self.emit({"e": COLLECTED, "id": item.nodeid})

    @pytest.hookimpl
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._reports[nodeid] = {}
        self.emit({"e": START, "id": nodeid, "t": time.time()})

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._reports.setdefault(report.nodeid, {})[report.when] = report

    @pytest.hookimpl
    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        reports = self._reports.pop(nodeid, {})
        outcome, message = outcome_of(reports)
        last = reports.get("teardown") or reports.get("call") or reports.get("setup")
        output = "\n".join(f"--- {t} ---\n{c}" for t, c in last.sections) if last else ""
        self.emit(
            {
                "e": FINISH,
                "id": nodeid,
                "t": time.time(),
                "outcome": outcome,
                "duration": sum(r.duration for r in reports.values()),
                "msg": clean_text(message, self._output_limit),
                "out": clean_text(output, self._output_limit),
                "metrics": self.metrics.pop(nodeid, []),
            }
        )


def outcome_of(reports: dict[str, pytest.TestReport]) -> tuple[str, str]:
    """Fold pytest's setup/call/teardown reports into one outcome and message."""
    setup, call, teardown = (reports.get(w) for w in ("setup", "call", "teardown"))
    if call is not None and call.failed:
        return "failed", call.longreprtext
    for phase in (setup, teardown):
        if phase is not None and phase.failed:
            return "error", f"error in {phase.when}: {phase.longreprtext}"
    decisive = call or setup
    if decisive is None:
        return "error", "pytest reported no phase for this test"
    xfail_reason = getattr(decisive, "wasxfail", None)
    if xfail_reason is not None:
        return ("xfailed" if decisive.skipped else "xpassed"), str(xfail_reason)
    if decisive.skipped:
        longrepr = decisive.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        return "skipped", reason
    return "passed", ""


_stream: EventStream | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _stream
    path = os.environ.get(EVENTS_ENV)
    if path and _stream is None:
        _stream = EventStream(path, int(os.environ.get(OUTPUT_LIMIT_ENV, "64000")))
        config.pluginmanager.register(_stream, "dtf-events")


def pytest_unconfigure(config: pytest.Config) -> None:
    global _stream
    if _stream is not None:
        config.pluginmanager.unregister(_stream)
        _stream.close()
        _stream = None


def validate_metric(name: str, value: float, unit: str) -> dict[str, Any]:
    """Check a metric before it is recorded: finite numbers, short names."""
    if not isinstance(name, str) or not name or len(name) > MAX_METRIC_NAME:
        raise ValueError(f"dtf_metric name must be 1-{MAX_METRIC_NAME} characters, got {name!r}")
    if not isinstance(unit, str) or len(unit) > MAX_METRIC_UNIT:
        raise ValueError(f"dtf_metric unit must be at most {MAX_METRIC_UNIT} characters")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"dtf_metric {name!r} must be a finite number, got {value!r}")
    return {"name": name, "value": float(value), "unit": unit}


@pytest.fixture
def dtf_metric(request: pytest.FixtureRequest) -> Iterator[MetricRecorder]:
    """Record a named numeric value (a benchmark figure) with this test's result."""
    recorded: list[dict[str, Any]] = []

    def record(name: str, value: float, unit: str = "") -> None:
        recorded.append(validate_metric(name, value, unit))

    yield record
    if _stream is not None and recorded:
        _stream.metrics.setdefault(request.node.nodeid, []).extend(recorded)
