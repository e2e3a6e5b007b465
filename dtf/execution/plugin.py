"""dtf's pytest plugin: streams one JSON line per test event and provides `dtf_metric`.

It is inert unless DTF_EVENTS_FILE is set, emits no warnings and leaves the tested
process's global state alone: suites that turn warnings into errors run unchanged.
It also loads in suites' own environments, where dtf is linked but not installed
(dtf/environments/build.py): it and dtf.execution.events import only pytest and the
standard library.
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
    COLLECT_END,
    COLLECT_ERROR,
    COLLECT_START,
    COLLECTED,
    DEFAULT_OUTPUT_LIMIT,
    EVENTS_ENV,
    FINISH,
    MISSING,
    OUTPUT_LIMIT_ENV,
    ROOTDIR,
    SELECT_ENV,
    SESSION_END,
    START,
    clean_text,
)

MAX_METRIC_NAME = 128
MAX_METRIC_UNIT = 32

MetricRecorder = Callable[[str, float, str], None]
_dumps = json.JSONEncoder(separators=(",", ":")).encode
# The per-test events are formatted by hand around json's C string escaper: a generic
# json.dumps costs several times more, and these two lines are written for every test.
_quote = json.encoder.encode_basestring_ascii


class InvalidMetricError(ValueError):
    """A test passed `dtf_metric` something that cannot be stored as a metric."""


class EventStream:
    """Appends events to the file the shard runner watches."""

    def __init__(
        self, path: str, output_limit: int, config: pytest.Config, wanted: list[str] | None
    ):
        self.config = config
        self.wanted = wanted
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._output_limit = output_limit
        self._reports: dict[str, dict[str, pytest.TestReport]] = {}
        self.metrics: dict[str, list[dict[str, Any]]] = {}
        self.invalid_metrics: dict[str, str] = {}

    def emit(self, event: dict[str, Any]) -> None:
        self.write(_dumps(event) + "\n")

    def write(self, line: str) -> None:
        # One unbuffered write per line: an event is in the file before the next line of
        # test code runs, so it survives a crash, and O_APPEND keeps each line whole.
        os.write(self._fd, line.encode())

    def close(self) -> None:
        os.close(self._fd)

    @pytest.hookimpl
    def pytest_collectstart(self, collector: pytest.Collector) -> None:
        # Collectors run one after another (directories with their conftests, modules,
        # classes): if the process dies or hangs now, the runner blames this one.
        if collector.nodeid:
            self.emit({"e": COLLECT_START, "id": collector.nodeid})

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = clean_text(str(report.longrepr), self._output_limit)
            self.emit({"e": COLLECT_ERROR, "id": report.nodeid, "msg": text})

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        # Collection proper is over: a death from now on is no collector's fault.
        self.emit({"e": COLLECT_END})
        if self.wanted is not None:
            self._select(config, items, self.wanted)

    def _select(self, config: pytest.Config, items: list[pytest.Item], wanted: list[str]) -> None:
        """Keep the shard's tests of the modules pytest was given, and name the missing ones.

        A set lookup per item: pytest matching node ids given as arguments costs
        O(ids x tests per module), a third of a millisecond per test in a large module.
        """
        keep = set(wanted)
        chosen = [item for item in items if item.nodeid in keep]
        if len(chosen) < len(items):
            config.hook.pytest_deselected(items=[i for i in items if i.nodeid not in keep])
            items[:] = chosen
        found = {item.nodeid for item in chosen}
        if len(found) < len(keep):
            self.emit({"e": MISSING, "ids": [n for n in wanted if n not in found]})

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if session.config.option.collectonly:
            self.emit({"e": ROOTDIR, "path": str(session.config.rootpath)})
            for item in session.items:
                self.emit({"e": COLLECTED, "id": item.nodeid})

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, exitstatus: int) -> None:
        # After every test's teardown and the other plugins' own session-finish work: what
        # remains (the terminal summary, plugins' unconfigure, the interpreter's exit: 0.1-0.5
        # s with hypothesis installed) the shard runner need not wait for.
        self.emit({"e": SESSION_END, "status": int(exitstatus)})

    @pytest.hookimpl
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._reports[nodeid] = {}
        self.write(f'{{"e":"{START}","id":{_quote(nodeid)},"t":{time.time()!r}}}\n')

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._reports.setdefault(report.nodeid, {})[report.when] = report

    @pytest.hookimpl
    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        reports = self._reports.pop(nodeid, {})
        outcome, message = outcome_of(reports)
        invalid = self.invalid_metrics.pop(nodeid, None)
        if invalid is not None:
            outcome, message = "error", f"invalid dtf_metric: {invalid}\n{message}"
        metrics = self.metrics.pop(nodeid, None)
        self.write(
            f'{{"e":"{FINISH}","id":{_quote(nodeid)},"t":{time.time()!r},'
            f'"outcome":"{outcome}","duration":{sum(r.duration for r in reports.values())!r},'
            f'"msg":{_quote(clean_text(message, self._output_limit))},'
            f'"out":{_quote(clean_text(captured_output(reports), self._output_limit))},'
            f'"metrics":{_dumps(metrics) if metrics else "[]"}}}\n'
        )


def captured_output(reports: dict[str, pytest.TestReport]) -> str:
    """The output pytest captured across the test's phases (the last report holds them all)."""
    last = reports.get("teardown") or reports.get("call") or reports.get("setup")
    if last is None or not last.sections:
        return ""
    return "\n".join(f"--- {title} ---\n{content}" for title, content in last.sections)


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
    # Popped, not read: the tested code then sees the environment it would see without dtf,
    # and a pytest the tests start themselves cannot write into this shard's stream.
    path = os.environ.pop(EVENTS_ENV, None)
    limit = os.environ.pop(OUTPUT_LIMIT_ENV, None)
    select = os.environ.pop(SELECT_ENV, None)
    if path and _stream is None:
        wanted = _read_lines(select) if select else None
        _stream = EventStream(path, int(limit or DEFAULT_OUTPUT_LIMIT), config, wanted)
        config.pluginmanager.register(_stream, "dtf-events")


def _read_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [line for line in handle.read().splitlines() if line]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    global _stream
    # Only the session that opened the stream closes it, not one run in-process by a test.
    if _stream is not None and _stream.config is config:
        config.pluginmanager.unregister(_stream)
        _stream.close()
        _stream = None


def validate_metric(name: str, value: float, unit: str) -> dict[str, Any]:
    """Check a metric before it is recorded: finite numbers, short names."""
    __tracebackhide__ = True  # the error is the caller's: show their line, not ours
    if not isinstance(name, str) or not name or len(name) > MAX_METRIC_NAME:
        raise InvalidMetricError(
            f"dtf_metric name must be 1-{MAX_METRIC_NAME} characters, got {name!r}"
        )
    if not isinstance(unit, str) or len(unit) > MAX_METRIC_UNIT:
        raise InvalidMetricError(f"dtf_metric unit must be at most {MAX_METRIC_UNIT} characters")
    # A tuple, not `int | float`: a suite's own interpreter may predate Python 3.10.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidMetricError(f"dtf_metric {name!r} must be a finite number, got {value!r}")
    return {"name": name, "value": float(value), "unit": unit}


@pytest.fixture
def dtf_metric(request: pytest.FixtureRequest) -> Iterator[MetricRecorder]:
    """Record a named numeric value (a benchmark figure) with this test's result.

    An invalid value raises at once (the traceback points at the call) and, under dtf,
    makes the test an `error` even if the test swallows the exception.
    """
    recorded: list[dict[str, Any]] = []
    nodeid = request.node.nodeid

    def record(name: str, value: float, unit: str = "") -> None:
        __tracebackhide__ = True
        try:
            recorded.append(validate_metric(name, value, unit))
        except InvalidMetricError as exc:
            if _stream is not None:
                _stream.invalid_metrics.setdefault(nodeid, str(exc))
            raise

    yield record
    if _stream is not None and recorded:
        _stream.metrics.setdefault(nodeid, []).extend(recorded)
