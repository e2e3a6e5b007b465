"""Quarantines in the store: add, release with a recorded reason, history kept; both backends."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dtf.cli import app
from dtf.quarantine import QuarantineEntry
from dtf.store.quarantines import (
    active_quarantines,
    add_quarantine,
    quarantines,
    release_quarantine,
)
from dtf.store.results import ResultStore


def test_a_release_keeps_the_entry_and_records_why(store_url: str) -> None:
    now = time.time()
    store = ResultStore(store_url)
    try:
        for pattern in ("t::fixed", "t::broken"):
            add_quarantine(store, QuarantineEntry("c", pattern, "flaky", "JIRA-1", now, now + 99))
        add_quarantine(store, QuarantineEntry("c", "t::old", "flaky", "JIRA-2", now - 9, now - 1))
        assert [e.pattern for e in active_quarantines(store, "c")] == ["t::broken", "t::fixed"]

        assert release_quarantine(store, "c", "t::fixed", "passed 5 of 5 runs (run-1)")
        assert not release_quarantine(store, "c", "t::fixed", "again")  # already released
        assert [e.pattern for e in quarantines(store, "c")] == ["t::broken", "t::old"]
        released = {e.pattern: e for e in quarantines(store, "c", include_released=True)}
        fixed = released["t::fixed"]
        assert fixed.reason == "flaky [released: passed 5 of 5 runs (run-1)]"
        assert fixed.released_at == pytest.approx(time.time(), abs=60)
        assert not fixed.active(time.time()) and released["t::broken"].released_at is None
        assert release_quarantine(store, "c", "t::broken")  # no note: the reason stays as is
        assert [e.reason for e in quarantines(store, "c", include_released=True)] == [
            "flaky", "flaky [released: passed 5 of 5 runs (run-1)]", "flaky",
        ]  # fmt: skip
    finally:
        store.close()


def test_the_cli_releases_with_a_reason_and_lists_released_entries_with_all(
    dtf_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    added = runner.invoke(app, ["quarantine", "add", "t::x", "-c", "c", "--reason", "flaky",
                                "--owner", "JIRA-3"])  # fmt: skip
    assert added.exit_code == 0, added.output
    removed = runner.invoke(app, ["quarantine", "remove", "t::x", "-c", "c",
                                  "--reason", "fixed in #88"])  # fmt: skip
    assert removed.exit_code == 0 and "released t::x in c" in removed.output
    assert json.loads(runner.invoke(app, ["quarantine", "list", "--json"]).output) == []
    [entry] = json.loads(runner.invoke(app, ["quarantine", "list", "--all", "--json"]).output)
    assert entry["reason"] == "flaky [released: fixed in #88]" and entry["released_at"]
    table = runner.invoke(app, ["quarantine", "list", "--all"]).output
    assert "(released)" in table
