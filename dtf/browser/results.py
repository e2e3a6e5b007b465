"""Turns what a page reported through dtf's JS API into CaseResults; pure."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from dtf.browser.pages import SEPARATOR
from dtf.execution.outcomes import FAILING_OUTCOMES, CaseResult, Metric, Outcome

PageStatus = Literal["done", "timeout", "crashed", "error", "skipped"]
# What a page may report for one of its results.
REPORTABLE: frozenset[str] = frozenset(
    {"passed", "failed", "skipped", "xfailed", "xpassed", "error"}
)
DEFAULT_OUTPUT_LIMIT = 64_000


@dataclass(frozen=True)
class PageRun:
    """One page's run: how it ended and the events its API sent, in page order."""

    page: str
    status: PageStatus
    events: tuple[Mapping[str, Any], ...] = ()
    started_at: float = 0.0
    finished_at: float = 0.0
    reason: str = ""  # why it timed out, crashed, errored or was skipped
    browser_pid: int | None = None


@dataclass
class _Parsed:
    results: list[CaseResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    adapter: Mapping[str, Any] | None = None
    loose_metrics: list[Metric] = field(default_factory=list)


def page_results(run: PageRun, output_limit: int = DEFAULT_OUTPUT_LIMIT) -> list[CaseResult]:
    """The page's own row (its test id is the page), then one row per result it reported.

    The page row is what planning, timing and completeness checks see; it fails when the
    page failed to run (error, timeout, crash) or when any of its results failed.
    """
    if run.status == "skipped":
        return [_row(run, "skipped", run.reason, "", ())]
    parsed = _parse(run)
    outcome, message = _page_verdict(run, parsed)
    adapter = adapter_text(parsed.adapter)
    if adapter:
        message = f"{message}; {adapter}" if message else adapter
    output = _limit(_page_output(parsed), output_limit)
    metrics = (*parsed.loose_metrics, *_adapter_metrics(parsed))
    page_row = _row(run, outcome, message, output, metrics)
    adapter_line = f"{adapter}\n" if adapter else ""
    results = [_with_output(r, adapter_line, output_limit) for r in parsed.results]
    return [page_row, *results]


def adapter_text(adapter: Mapping[str, Any] | None) -> str:
    """'webgpu adapter: google swiftshader (fallback)' from the API's adapter event."""
    if not adapter:
        return ""
    parts = [str(adapter.get(k) or "") for k in ("vendor", "architecture", "description")]
    name = " ".join(p for p in parts if p) or "unnamed"
    fallback = adapter.get("is_fallback")
    kind = {True: "fallback", False: "hardware", None: "fallback unknown"}[fallback]
    return f"webgpu adapter: {name} ({kind})"


def _parse(run: PageRun) -> _Parsed:
    parsed = _Parsed()
    pending: list[Metric] = []
    names: set[str] = set()
    previous = run.started_at
    for event in run.events:
        kind = event.get("kind")
        if kind == "metric":
            metric = _metric(event, parsed.problems)
            if metric is not None:
                pending.append(metric)
        elif kind == "result":
            result = _result(run.page, event, previous, tuple(pending), parsed.problems, names)
            parsed.results.append(result)
            pending = []
            previous = result.finished_at or previous
        elif kind == "error":
            parsed.errors.append(_error_text(event))
        elif kind == "log":
            parsed.logs.append(f"[{event.get('level', 'log')}] {event.get('text', '')}")
        elif kind == "adapter" and parsed.adapter is None:
            parsed.adapter = event
    _attach_trailing(parsed, pending)
    return parsed


def _attach_trailing(parsed: _Parsed, pending: list[Metric]) -> None:
    # A metric belongs to the next result reported; trailing ones to the last result.
    if not pending:
        return
    if not parsed.results:
        parsed.loose_metrics = pending
        return
    last = parsed.results[-1]
    parsed.results[-1] = _replace(last, metrics=(*last.metrics, *pending))


def _metric(event: Mapping[str, Any], problems: list[str]) -> Metric | None:
    name = str(event.get("name", ""))
    value = event.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        problems.append(f"dtf.metric({name!r}) got {value!r}, not a finite number")
        return None
    return Metric(name=name, value=float(value), unit=str(event.get("unit") or ""))


def _result(
    page: str,
    event: Mapping[str, Any],
    previous: float,
    metrics: tuple[Metric, ...],
    problems: list[str],
    names: set[str],
) -> CaseResult:
    name = str(event.get("name", ""))
    if name in names:
        problems.append(f"result {name!r} was reported more than once")
    names.add(name)
    details = dict(event.get("details") or {})
    message = str(details.pop("message", "") or "")
    outcome = str(event.get("outcome", ""))
    if outcome not in REPORTABLE:
        message = (f"dtf.result({name!r}) reported outcome {outcome!r}; expected one of "
                   f"{', '.join(sorted(REPORTABLE))}. {message}").strip()  # fmt: skip
        outcome = "error"
    finished = float(event.get("t") or previous)
    return CaseResult(
        nodeid=f"{page}{SEPARATOR}{name}",
        outcome=_as_outcome(outcome),
        duration=max(0.0, finished - previous),
        message=message,
        output=json.dumps(details, sort_keys=True) if details else "",
        started_at=previous or None,
        finished_at=finished or None,
        metrics=metrics,
    )


def _page_verdict(run: PageRun, parsed: _Parsed) -> tuple[Outcome, str]:
    reported = _summary(parsed.results)
    if run.status in ("timeout", "crashed", "error"):
        return run.status, _join(run.reason, *parsed.errors[:1], reported)
    if parsed.errors:
        return "error", _join(parsed.errors[0], reported)
    if parsed.problems:
        return "error", _join(*parsed.problems, reported)
    if not parsed.results:
        return "error", "the page reported no result (dtf.result(...) before dtf.done())"
    failing = [r for r in parsed.results if r.outcome in FAILING_OUTCOMES]
    if failing:
        first = failing[0]
        name = first.nodeid.split(SEPARATOR, 1)[1]
        return "failed", _join(reported, f"first: {name} {first.outcome}: {first.message}")
    if all(r.outcome == "skipped" for r in parsed.results):
        return "skipped", reported
    return "passed", reported


def _summary(results: Sequence[CaseResult]) -> str:
    if not results:
        return ""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    each = ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
    return f"{len(results)} result{'s' if len(results) != 1 else ''}: {each}"


def _page_output(parsed: _Parsed) -> str:
    lines = [*parsed.errors, *parsed.problems]
    if parsed.adapter:
        info = {k: parsed.adapter.get(k) for k in
                ("vendor", "architecture", "device", "description", "is_fallback")}  # fmt: skip
        lines.append("webgpu adapter: " + json.dumps(info, sort_keys=True))
    if parsed.logs:
        lines += ["console:", *parsed.logs]
    return "\n".join(lines)


def _adapter_metrics(parsed: _Parsed) -> tuple[Metric, ...]:
    if not parsed.adapter or parsed.adapter.get("is_fallback") is None:
        return ()
    return (Metric("webgpu_fallback_adapter", 1.0 if parsed.adapter["is_fallback"] else 0.0),)


def _error_text(event: Mapping[str, Any]) -> str:
    where = ""
    if event.get("source"):
        where = f" ({event['source']}:{event.get('line', 0)})"
    stack = str(event.get("stack") or "")
    return f"{event.get('message', 'error')}{where}" + (f"\n{stack}" if stack else "")


def _row(
    run: PageRun, outcome: Outcome, message: str, output: str, metrics: tuple[Metric, ...]
) -> CaseResult:
    return CaseResult(
        nodeid=run.page,
        outcome=outcome,
        duration=max(0.0, run.finished_at - run.started_at),
        message=message,
        output=output,
        started_at=run.started_at or None,
        finished_at=run.finished_at or None,
        metrics=metrics,
    )


def _with_output(result: CaseResult, prefix: str, limit: int) -> CaseResult:
    if not prefix:
        return result
    return _replace(result, output=_limit(prefix + result.output, limit))


def _replace(result: CaseResult, **changes: Any) -> CaseResult:
    return dataclasses.replace(result, **changes)


def _limit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 20)] + "\n[... truncated]"


def _join(*parts: str) -> str:
    return "; ".join(p.splitlines()[0] if "\n" in p else p for p in parts if p)


_OUTCOMES: dict[str, Outcome] = {
    "passed": "passed", "failed": "failed", "skipped": "skipped",
    "xfailed": "xfailed", "xpassed": "xpassed", "error": "error",
}  # fmt: skip


def _as_outcome(value: str) -> Outcome:
    return _OUTCOMES.get(value, "error")
