"""Publishing a run: plan each publisher's deliveries, record them, deliver what is pending."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from dtf.errors import DtfError, PublishError
from dtf.publishing.base import (
    DeliveryContext,
    PublisherOptions,
    PublishInput,
    build_publisher,
    delivery_id,
)
from dtf.publishing.http import redact
from dtf.publishing.outbox import NewDelivery, Outbox, OutboxRow
from dtf.publishing.retry import Deadline, call_with_retry
from dtf.publishing.spec import PublisherSpec, RetryBudget
from dtf.store.results import ResultStore
from dtf.validation.facts import gather_facts
from dtf.validation.gate import ValidationOutcome, read_outcome

log = logging.getLogger("dtf.publishing")


@dataclass
class PublishReport:
    """What a publish pass did: sent deliveries (with refs) and those left pending (why)."""

    recorded: int = 0
    sent: dict[str, str] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.pending

    def lines(self) -> list[str]:
        out = [f"sent {k} -> {v}" for k, v in self.sent.items()]
        return out + [f"PENDING {k}: {v}" for k, v in self.pending.items()]


def plan_run(
    store: ResultStore,
    run_id: str,
    specs: Sequence[PublisherSpec],
    validation: ValidationOutcome | None = None,
) -> list[NewDelivery]:
    """Every delivery the campaign's publishers want for the run, with idempotency keys."""
    facts = gather_facts(store, run_id)
    run = PublishInput(facts, validation or read_outcome(run_id))
    planned: list[NewDelivery] = []
    for spec in specs:
        if not spec.enabled:
            continue
        publisher, options = build_publisher(spec.kind, spec.options)
        for d in publisher.plan(run):
            payload = {
                "name": spec.label,
                "kind": d.kind,
                "body": dict(d.body),
                "options": options.model_dump(mode="json"),
                "retry": spec.retry.model_dump(mode="json"),
            }
            key = delivery_id(run_id, spec.label, d.kind, d.key)
            planned.append(NewDelivery(key, run_id, spec.kind, d.target, payload))
    return planned


def record_run(
    store: ResultStore,
    run_id: str,
    specs: Sequence[PublisherSpec],
    validation: ValidationOutcome | None = None,
) -> int:
    """Record the run's deliveries in the outbox (those already there are kept as they are)."""
    return Outbox(store).record(plan_run(store, run_id, specs, validation))


def publish_run(
    store: ResultStore,
    run_id: str,
    specs: Sequence[PublisherSpec],
    *,
    validation: ValidationOutcome | None = None,
    env: Mapping[str, str] | None = None,
    blocks: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PublishReport:
    """Record the run's deliveries in the outbox, then deliver every pending one of the run."""
    recorded = record_run(store, run_id, specs, validation)
    report = deliver_pending(store, run_id, env=env, blocks=blocks, sleep=sleep)
    report.recorded = recorded
    return report


def blocks_needed(store: ResultStore, run_id: str | None = None) -> list[str]:
    """The Prefect Secret blocks that the pending deliveries (of one run, or all) read."""
    names: set[str] = set()
    for row in Outbox(store).pending(run_id):
        options = row.payload.get("options") or {}
        names.update(str(v) for v in (options.get("secret_blocks") or {}).values())
    return sorted(names)


def deliver_pending(
    store: ResultStore,
    run_id: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    blocks: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PublishReport:
    """Deliver pending outbox rows (of one run, or all), oldest first.

    Secrets come from `env` (default: this process's environment) and from `blocks`, the
    values of the Prefect Secret blocks the rows name, resolved by the caller.
    A target that stays unavailable after its retry budget is not tried again in this pass:
    its remaining rows stay pending for `dtf publish --retry`.
    """
    secrets = Secrets(dict(os.environ if env is None else env), dict(blocks or {}))
    box = Outbox(store)
    report = PublishReport()
    down: dict[str, str] = {}
    deadlines: dict[str, Deadline] = {}
    for row in box.pending(run_id):
        if row.name in down:
            report.pending[row.delivery_id] = down[row.name]
            box.mark_failed(row.delivery_id, down[row.name], 0)
            continue
        error = _deliver_row(store, box, row, secrets, deadlines, sleep, report)
        if error is not None and error.transient:
            down[row.name] = (
                f"not tried: {row.name} was unavailable ({report.pending[row.delivery_id]})"
            )
    return report


@dataclass(frozen=True)
class Secrets:
    """Where deliveries read secrets: environment variables and resolved Secret blocks."""

    env: Mapping[str, str]
    blocks: Mapping[str, str]

    def values_of(self, options: PublisherOptions) -> list[str]:
        """Every secret value the publisher may use, to redact from what is stored."""
        from_env = [self.env.get(name, "") for name in options.secret_names()]
        return from_env + [self.blocks.get(name, "") for name in options.block_names()]


def _deliver_row(
    store: ResultStore,
    box: Outbox,
    row: OutboxRow,
    secrets: Secrets,
    deadlines: dict[str, Deadline],
    sleep: Callable[[float], None],
    report: PublishReport,
) -> PublishError | None:
    budget = RetryBudget.model_validate(row.payload.get("retry") or {})
    deadline = deadlines.setdefault(row.name, Deadline(budget.budget_seconds))
    values: list[str] = []
    try:
        publisher, options = build_publisher(row.publisher, row.payload.get("options") or {})
        values = secrets.values_of(options)
        ctx = DeliveryContext(store, row.run_id, row.name, row.delivery_id, secrets.env,
                              box.remote_ref, secrets.blocks)  # fmt: skip
        body = row.payload.get("body") or {}
        kind = str(row.payload.get("kind") or "")
        ref, attempts = call_with_retry(
            lambda: publisher.deliver(kind, body, ctx), budget, deadline, sleep
        )
        error = attempts.error
    except DtfError as exc:  # a bad row or a missing plugin: leave it pending, say why
        ref, error = None, exc if isinstance(exc, PublishError) else PublishError(str(exc))
        attempts = None
    count = attempts.count if attempts else 0
    if error is None and ref is not None:
        box.mark_sent(row.delivery_id, ref, count)
        report.sent[row.delivery_id] = ref
        log.info("delivered %s -> %s", row.delivery_id, ref)
        return None
    message = redact(str(error or "no reference returned"), values)
    box.mark_failed(row.delivery_id, message, count)
    report.pending[row.delivery_id] = message
    log.warning("left pending %s: %s", row.delivery_id, message)
    return error
