"""Subflows that end a campaign: validate the run (Great Expectations), then publish it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from dtf.errors import DtfError
from dtf.publishing import service
from dtf.publishing.config import read_publishers
from dtf.publishing.spec import PublisherSpec
from dtf.store.results import ResultStore
from dtf.validation import gate
from dtf.validation.sections import read_expectations
from dtf.validation.spec import Expectations
from flows.secrets import load_secret_blocks


def _is_campaign_file(path: str) -> bool:
    # A campaign may also be a bare path of tests: then defaults apply and nothing publishes.
    return bool(path) and Path(path).suffix in (".yaml", ".yml") and Path(path).is_file()


def _expectations(campaign_path: str) -> Expectations:
    return read_expectations(campaign_path) if _is_campaign_file(campaign_path) else Expectations()


def _publishers(campaign_path: str) -> tuple[PublisherSpec, ...]:
    return read_publishers(campaign_path) if _is_campaign_file(campaign_path) else ()


@flow(name="validate-run", log_prints=True)
def validate_run(run_id: str, store_url: str, campaign_path: str = "") -> dict[str, Any]:
    """Check the run against the campaign's expectations; the result says whether it passed."""
    logger = get_run_logger()
    store = ResultStore(store_url)
    try:
        outcome = gate.validate_run(store, run_id, _expectations(campaign_path))
    finally:
        store.close()
    create_markdown_artifact(
        key="campaign-validation",
        markdown=outcome.markdown(),
        description=f"dtf validation of {run_id}: {'passed' if outcome.passed else 'failed'}",
    )
    for reason in outcome.reasons():
        logger.error("expectation failed: %s", reason)
    logger.info(
        "validation of %s: %s (%d expectations, %s)",
        run_id,
        "passed" if outcome.passed else "failed",
        outcome.checked,
        ", ".join(f"{k} {v:.2f}" for k, v in outcome.timings.items()),
    )
    return {
        "passed": outcome.passed,
        "failed": outcome.reasons(),
        "report": outcome.report,
        "timings": outcome.timings,
    }


@flow(name="publish-run", log_prints=True)
def publish_run(run_id: str, store_url: str, campaign_path: str = "") -> dict[str, Any]:
    """Record and deliver the run's publications; what cannot be sent now stays pending.

    Deliveries are recorded before their secrets are loaded: a missing Prefect Secret block
    fails this pass with an error naming it, and `dtf publish --retry` delivers them later.
    """
    logger = get_run_logger()
    try:
        specs = _publishers(campaign_path)
        if not specs:
            return {"sent": {}, "pending": {}}
        store = ResultStore(store_url)
        try:
            service.record_run(store, run_id, specs)
            blocks = load_secret_blocks(service.blocks_needed(store, run_id))
            report = service.deliver_pending(store, run_id, blocks=blocks)
        finally:
            store.close()
    except DtfError as exc:
        # Publishing never changes the verdict: report the problem, keep the run's result.
        logger.error("publishing %s failed: %s", run_id, exc)
        return {"sent": {}, "pending": {}, "error": str(exc)}
    for key, why in report.pending.items():
        logger.warning("delivery %s left pending (dtf publish --retry %s): %s", key, run_id, why)
    logger.info("published %s: %d sent, %d pending", run_id, len(report.sent), len(report.pending))
    return {"sent": report.sent, "pending": report.pending}
