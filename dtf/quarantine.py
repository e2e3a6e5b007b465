"""Which failing tests a quarantine excuses: patterns, hardware scope and expiry; pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any


@dataclass(frozen=True)
class QuarantineEntry:
    """A quarantined test-id pattern: it still runs and is reported, but fails nothing."""

    campaign: str
    pattern: str
    reason: str
    owner_issue: str
    added_at: float
    expires_at: float | None = None
    hardware: str | None = None

    def active(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at

    def covers(self, test_id: str, hardware: str) -> bool:
        return fnmatchcase(test_id, self.pattern) and self.hardware in (None, "", hardware)


def excused(
    failures: Iterable[Mapping[str, Any]], entries: Sequence[QuarantineEntry], now: float
) -> list[Mapping[str, Any]]:
    """The failing result rows that an active quarantine covers."""
    live = [e for e in entries if e.active(now)]
    return [
        f for f in failures if any(e.covers(str(f["test_id"]), str(f["hardware"])) for e in live)
    ]


def suggest(flaky: Iterable[Any], *, min_flakiness: float, quarantined: Sequence[str]) -> list[Any]:
    """Flaky tests (dtf.analysis.flaky.FlakyTest rows) worth quarantining.

    Above the flakiness threshold and not yet quarantined. A test that failed in every run is
    broken, not flaky: it is never suggested, whatever its score.
    """
    return [
        row
        for row in flaky
        if row.flakiness >= min_flakiness
        and row.failures < row.runs
        and row.test_id not in quarantined
    ]
