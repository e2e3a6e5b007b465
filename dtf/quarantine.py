"""Which failing tests a quarantine excuses, and which a verification releases; pure."""

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
    released_at: float | None = None  # set when lifted; its history stays

    def active(self, now: float) -> bool:
        return self.released_at is None and (self.expires_at is None or now < self.expires_at)

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


def quarantined_tests(
    collected: Mapping[str, Sequence[str]],
    hardware: Mapping[str, str],
    entries: Sequence[QuarantineEntry],
) -> dict[str, list[str]]:
    """Per suite, the collected tests some entry covers on the suite's hardware class."""
    return {
        suite: [t for t in tests if any(e.covers(t, hardware[suite]) for e in entries)]
        for suite, tests in collected.items()
    }


@dataclass(frozen=True)
class Verification:
    """What re-running a quarantined pattern's tests showed: release it, or keep it and why."""

    pattern: str
    tests: tuple[str, ...]
    release: bool
    why: str


def verify_entries(
    entries: Sequence[QuarantineEntry],
    planned: Mapping[str, Sequence[str]],
    hardware: Mapping[str, str],
    results: Iterable[Mapping[str, Any]],
    runs: int,
) -> list[Verification]:
    """Release an entry only when each test it covers passed in every one of `runs` runs.

    `planned` and `hardware` are by suite; `results` are every stored row of the verify run
    (one per test and attempt). A run counts only on the entry's hardware: a result from
    fallback hardware does not vouch for a test quarantined on its own.
    """
    rows: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in results:
        rows.setdefault((str(row["suite"]), str(row["test_id"])), []).append(row)
    return [_verify_entry(entry, planned, hardware, rows, runs) for entry in entries]


def _verify_entry(
    entry: QuarantineEntry,
    planned: Mapping[str, Sequence[str]],
    hardware: Mapping[str, str],
    rows: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]],
    runs: int,
) -> Verification:
    covered = [(s, t) for s, tests in planned.items() for t in tests
               if entry.covers(t, hardware[s])]  # fmt: skip
    names = tuple(t for _, t in covered)
    if not covered:
        scope = f" on {entry.hardware}" if entry.hardware else ""
        return Verification(entry.pattern, (), False, f"matches no collected test{scope}")
    for suite, test in covered:
        found = rows.get((suite, test), [])
        bad = [str(r["outcome"]) for r in found if r["outcome"] != "passed"]
        if bad:
            worst = max(set(bad), key=bad.count)
            return Verification(entry.pattern, names, False,
                                f"{test}: {worst} in {len(bad)} of {len(found)} runs")  # fmt: skip
        good = [r for r in found if entry.covers(test, str(r["hardware"]))]
        if len(good) < runs:
            return Verification(entry.pattern, names, False,
                                f"{test}: passed in only {len(good)} of {runs} runs")  # fmt: skip
    tests = f"{len(covered)} tests" if len(covered) > 1 else names[0]
    return Verification(entry.pattern, names, True, f"{tests} passed {runs} of {runs} runs")
