"""Splits one page's evaluation across browsers (`?shard=i/k`) and joins the parts again."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from dtf.browser.pages import SEPARATOR
from dtf.browser.spec import BrowserPage
from dtf.errors import DtfError
from dtf.execution.outcomes import CaseResult

SHARD_PARAM = "shard"


class CombineError(DtfError):
    """The parts of a sharded evaluation do not add up to the whole input set."""


def split_page(page: BrowserPage, parts: int) -> list[BrowserPage]:
    """`page` once per part, with `shard=i/k` added to its query; the page picks its rows."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    glue = "&" if "?" in page.path else "?"
    return [page.model_copy(update={"path": f"{page.path}{glue}{SHARD_PARAM}={i}/{parts}"})
            for i in range(parts)]  # fmt: skip


def details_of(result: CaseResult) -> dict[str, Any]:
    """The details object a page passed to dtf.result(): the last line of the output."""
    last = result.output.rstrip().rsplit("\n", 1)[-1]
    if not last.startswith("{"):
        return {}
    value = json.loads(last)
    return value if isinstance(value, dict) else {}


def combine_rows(results: Iterable[CaseResult], result_name: str) -> list[list[float]]:
    """Join the `outputs` rows the parts reported under `result_name`, in input order.

    Each part's details must say which rows it covered (`start`, `end`); the parts must
    cover the input set exactly once, from row 0, without gaps or overlaps.
    """
    parts = []
    for result in results:
        if result.nodeid.endswith(f"{SEPARATOR}{result_name}"):
            details = details_of(result)
            if "start" not in details:
                raise CombineError(f"{result.nodeid} reported no rows: {result.message}")
            parts.append(details)
    rows: list[list[float]] = []
    for details in sorted(parts, key=lambda d: int(d["start"])):
        if int(details["start"]) != len(rows):
            raise CombineError(f"the parts cover rows up to {len(rows)}, then one starts at "
                               f"{details['start']}")  # fmt: skip
        outputs = details.get("outputs") or []
        if len(outputs) != int(details["end"]) - int(details["start"]):
            raise CombineError(f"rows {details['start']}-{details['end']} reported "
                               f"{len(outputs)} outputs")  # fmt: skip
        rows += [[float(v) for v in row] for row in outputs]
    return rows


def max_abs_diff(first: Sequence[Sequence[float]], second: Sequence[Sequence[float]]) -> float:
    """The largest elementwise difference of two equally shaped tables (inf if they differ)."""
    if len(first) != len(second):
        return math.inf
    worst = 0.0
    for a, b in zip(first, second, strict=True):
        if len(a) != len(b):
            return math.inf
        worst = max([worst, *(abs(x - y) for x, y in zip(a, b, strict=True))])
    return worst
