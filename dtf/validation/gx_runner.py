"""Runs the gate's checks as a Great Expectations 1.x suite in an ephemeral context."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from dtf.errors import ValidationGateError
from dtf.validation.frames import Check, GateInput

SITE = "dtf"
MAX_OFFENDERS = 50


@dataclass(frozen=True)
class CheckResult:
    """What Great Expectations said about one check."""

    check: Check
    success: bool
    offenders: tuple[str, ...] = ()
    offender_count: int = 0
    error: str = ""


@dataclass(frozen=True)
class GxRun:
    """All check results, where the Data Docs went, and what each phase cost in seconds."""

    results: tuple[CheckResult, ...]
    docs_index: Path | None
    timings: Mapping[str, float]


@contextmanager
def _quiet_imports() -> Iterator[None]:
    # GE 1.24 imports the long-deprecated sre_constants/sre_parse modules; dtf's tests turn
    # warnings into errors, so exactly that deprecation is silenced while GE loads.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r"module 'sre_(constants|parse)' is deprecated",
            category=DeprecationWarning,
        )
        yield


def import_gx() -> tuple[ModuleType, float]:
    """great_expectations, imported on demand (it takes seconds), and the seconds it took."""
    start = time.perf_counter()
    with _quiet_imports():
        import great_expectations as gx
        import great_expectations.expectations  # registers gx.expectations
    return gx, time.perf_counter() - start


def run_checks(gate: GateInput, docs_dir: Path | None) -> GxRun:
    """Validate every frame against its checks; build Data Docs into `docs_dir` if given."""
    gx, import_seconds = import_gx()
    start = time.perf_counter()
    try:
        context = _context(gx, docs_dir)
        results = _validate_all(gx, context, gate)
    except Exception as exc:  # GE raises many unrelated types; the gate reports one
        raise ValidationGateError(f"Great Expectations could not validate the run: {exc}") from exc
    validated = time.perf_counter()
    index = _build_docs(context, docs_dir) if docs_dir is not None else None
    timings = {
        "import_seconds": import_seconds,
        "validate_seconds": validated - start,
        "docs_seconds": time.perf_counter() - validated,
    }
    return GxRun(tuple(results), index, timings)


def _context(gx: ModuleType, docs_dir: Path | None) -> Any:
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # No analytics (the fleet may be offline) and no progress bars on stderr.
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name=SITE,
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
            },
        )
    return context


def _validate_all(gx: ModuleType, context: Any, gate: GateInput) -> list[CheckResult]:
    source = context.data_sources.add_pandas("dtf")
    out: list[CheckResult] = []
    for name, frame in gate.frames.items():
        checks = [c for c in gate.checks if c.frame == name]
        if checks:
            out.extend(_validate_frame(gx, context, source, name, frame, checks))
    order = {c.key: i for i, c in enumerate(gate.checks)}
    return sorted(out, key=lambda r: order[r.check.key])


def _validate_frame(
    gx: ModuleType,
    context: Any,
    source: Any,
    name: str,
    frame: pd.DataFrame,
    checks: Sequence[Check],
) -> list[CheckResult]:
    batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    suite = context.suites.add(gx.ExpectationSuite(name=f"dtf.{name}"))
    for check in checks:
        suite.add_expectation(_expectation(gx, check))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"dtf.{name}", data=batch, suite=suite)
    )
    id_column = checks[0].id_column
    result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": [id_column]}
    result = definition.run(batch_parameters={"dataframe": frame}, result_format=result_format)
    by_key = {c.key: c for c in checks}
    return [
        _check_result(by_key[r.expectation_config.meta["dtf_check"]], r) for r in result.results
    ]


def _expectation(gx: ModuleType, check: Check) -> Any:
    kinds = gx.expectations
    common = {
        "column": check.column,
        "meta": {"dtf_check": check.key},
        "description": check.description,
    }
    if check.kind == "not_null":
        return kinds.ExpectColumnValuesToNotBeNull(**common)
    if check.kind == "null":
        return kinds.ExpectColumnValuesToBeNull(**common)
    return kinds.ExpectColumnValuesToBeBetween(
        **common, min_value=check.min_value, max_value=check.max_value
    )


def _check_result(check: Check, result: Any) -> CheckResult:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        message = str(info.get("exception_message") or "expectation raised")
        return CheckResult(check, False, error=message.splitlines()[0])
    details = result.result or {}
    index = details.get("unexpected_index_list") or []
    offenders = [_offender(check, item) for item in index]
    count = int(details.get("unexpected_count") or len(offenders))
    return CheckResult(check, bool(result.success), tuple(offenders[:MAX_OFFENDERS]), count)


def _offender(check: Check, item: Any) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    name = str(item.get(check.id_column, "?"))
    value = item.get(check.column)
    if check.kind == "between" and value is not None:
        return f"{name} ({check.label or check.column} {_number(value)})"
    return name


def _number(value: Any) -> str:
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


def _build_docs(context: Any, docs_dir: Path) -> Path:
    docs_dir.mkdir(parents=True, exist_ok=True)
    context.build_data_docs(site_names=[SITE])
    return docs_dir / "index.html"
