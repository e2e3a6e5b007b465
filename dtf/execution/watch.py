"""Follows one pytest process's event stream: results, the running test, limits that fire."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dtf.execution.events import (
    COLLECT_END,
    COLLECT_ERROR,
    COLLECT_START,
    FINISH,
    MISSING,
    SESSION_END,
    START,
    decode_lines,
)
from dtf.execution.outcomes import CaseResult, Metric
from dtf.spec.models import Limits

STREAMED_OUTCOMES = {"passed", "failed", "skipped", "xfailed", "xpassed", "error"}


class WatchState:
    """Tracks one pytest process's events as they arrive."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.finished: dict[str, CaseResult] = {}
        self.collect_errors: dict[str, str] = {}
        self.missing: list[str] = []
        self.current: str | None = None
        self.current_wall: float | None = None
        self.current_since = 0.0
        self.collecting: str | None = None
        self.fired: str | None = None
        self.session_status: int | None = None
        self.tail = b""
        self.last_activity = time.monotonic()
        self.output_size = 0

    def absorb(self, data: bytes) -> None:
        now = time.monotonic()
        try:
            size = self.output.stat().st_size
        except OSError:
            size = self.output_size
        if data or size != self.output_size:
            self.last_activity = now
            self.output_size = size
        if not data:
            return
        events, self.tail = decode_lines(self.tail + data)
        for event in events:
            self._apply(event, now)

    def _apply(self, event: dict[str, Any], now: float) -> None:
        kind, nodeid = event.get("e"), str(event.get("id", ""))
        if kind == START:
            self.current, self.current_wall, self.current_since = nodeid, event.get("t"), now
            self.collecting = None
        elif kind == FINISH:
            self.finished[nodeid] = case_from(event, self.current_wall)
            self.current = None
        elif kind == COLLECT_START:
            self.collecting = nodeid
        elif kind == COLLECT_END:
            self.collecting = None  # collection is over: from now on tests take the blame
        elif kind == MISSING:
            self.missing += [str(n) for n in event.get("ids", [])]
        elif kind == COLLECT_ERROR:
            self.collect_errors[nodeid] = str(event.get("msg", ""))
            if nodeid == self.collecting:
                self.collecting = None
        elif kind == SESSION_END:
            self.session_status = int(event.get("status", 0))

    def limit_fired(self, limits: Limits, deadline: float) -> str | None:
        now = time.monotonic()
        if self.current is not None and now - self.current_since > limits.test_timeout:
            return f"test timeout of {limits.test_timeout:g}s expired"
        if now - self.last_activity > limits.idle_timeout:
            return f"idle timeout of {limits.idle_timeout:g}s expired (no event and no output)"
        if now > deadline:
            return f"shard timeout of {limits.shard_timeout:g}s expired"
        return None


def case_from(event: dict[str, Any], started: float | None) -> CaseResult:
    metrics = tuple(
        Metric(str(m["name"]), float(m["value"]), str(m.get("unit", "")))
        for m in event.get("metrics", [])
    )
    outcome = str(event.get("outcome", "error"))
    return CaseResult(
        nodeid=str(event["id"]),
        outcome=outcome if outcome in STREAMED_OUTCOMES else "error",  # type: ignore[arg-type]
        duration=float(event.get("duration", 0.0)),
        message=str(event.get("msg", "")),
        output=str(event.get("out", "")),
        started_at=started,
        finished_at=event.get("t"),
        metrics=metrics,
    )
