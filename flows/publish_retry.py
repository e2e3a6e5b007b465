"""The publish-retry flow: deliver the outbox's pending publications, as `dtf publish --retry`."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.states import Failed

from dtf.config import database_url
from dtf.errors import DtfError
from dtf.publishing import service
from dtf.publishing.service import PublishReport
from dtf.store.results import ResultStore
from flows.secrets import load_secret_blocks


@flow(name="publish-retry", log_prints=True)
def publish_retry(run_id: str | None = None, store_url: str | None = None) -> Any:
    """Deliver the publications still pending in the outbox (of one run, or of all runs).

    Fails while a delivery stays pending, so an outage shows in the UI; the next run (or
    `dtf publish --retry`) tries again, and the outbox never sends one twice.

    Args:
        run_id: Only this run's deliveries; none: every pending one, oldest first.
        store_url: The results store; default: $DTF_DATABASE_URL, else the dtf home's DuckDB.
    """
    logger = get_run_logger()
    try:
        report = _deliver(store_url or database_url(), run_id)
    except DtfError as exc:
        logger.error("%s: %s", type(exc).__name__, exc)
        return Failed(message=str(exc))
    for key, ref in report.sent.items():
        logger.info("sent %s -> %s", key, ref)
    for key, why in report.pending.items():
        logger.warning("still pending %s: %s", key, why)
    result = {"sent": report.sent, "pending": report.pending}
    if report.pending:
        return Failed(message=f"{len(report.pending)} deliveries still pending, "
                      f"{len(report.sent)} sent", data=result)  # fmt: skip
    logger.info("delivered %d pending publications", len(report.sent))
    return result


def _deliver(store_url: str, run_id: str | None) -> PublishReport:
    store = ResultStore(store_url)
    try:
        blocks = load_secret_blocks(service.blocks_needed(store, run_id))
        return service.deliver_pending(store, run_id, blocks=blocks)
    finally:
        store.close()
