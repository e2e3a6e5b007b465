"""The publish-retry flow on the session's real Prefect server: it delivers what is pending."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from dtf.execution.outcomes import CaseResult
from dtf.publishing.outbox import NewDelivery, Outbox
from dtf.server import ServerInfo
from dtf.store.results import ResultStore
from dtf.store.synthetic import record_run
from flows.publish_retry import publish_retry


@pytest.fixture
def api(prefect_server: ServerInfo) -> Iterator[str]:
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}):
        yield prefect_server.api_url


def _junit(name: str, path: Path) -> NewDelivery:
    body = {"path": str(path), "campaign": "outbox"}
    payload = {"name": name, "kind": "junit", "body": body, "options": {"path": str(path)},
               "retry": {"max_attempts": 1}}  # fmt: skip
    return NewDelivery(f"r1/{name}", "r1", "junit", f"file {path}", payload)


def test_pending_deliveries_go_out_once_and_an_outage_fails_the_run_until_it_ends(
    api: str, tmp_path: Path, dtf_home: Path
) -> None:
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    blocked = tmp_path / "reports"
    blocked.write_text("a file where the report directory should be")  # the outage
    store = ResultStore(url)
    try:
        record_run(store, "r1", [CaseResult("t.py::test_a", "passed", 0.1)], campaign="outbox",
                   started_at=time.time())  # fmt: skip
        Outbox(store).record([_junit("ok", tmp_path / "ok.xml"),
                              _junit("late", blocked / "late.xml")])  # fmt: skip
    finally:
        store.close()

    first = publish_retry(store_url=url, return_state=True)
    assert first.is_failed() and first.message == "1 deliveries still pending, 1 sent"
    blocked.unlink()
    second = publish_retry(store_url=url, return_state=True)
    assert second.is_completed()
    assert second.result() == {"sent": {"r1/late": f"file:{blocked / 'late.xml'}"}, "pending": {}}

    store = ResultStore(url)
    try:
        rows = {r.delivery_id: r for r in Outbox(store).rows("r1")}
    finally:
        store.close()
    assert {k: (r.status, r.attempts) for k, r in rows.items()} == {
        "r1/ok": ("sent", 1),  # sent by the first run only
        "r1/late": ("sent", 2),
    }
    third = publish_retry(store_url=url, return_state=True)
    assert third.is_completed() and third.result() == {"sent": {}, "pending": {}}
