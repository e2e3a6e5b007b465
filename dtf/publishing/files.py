"""File publishers: JUnit XML for Jenkins and any CI, Prometheus text metrics (+ Pushgateway)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, default_handler

from dtf.errors import PublishError
from dtf.junit import write_junit
from dtf.publishing.base import Delivery, DeliveryContext, PublisherOptions, PublishInput
from dtf.publishing.http import transport_errors
from dtf.store.queries import PASSING


class JUnitOptions(PublisherOptions):
    """Where to write the run's JUnit XML: `{run_id}` and `{campaign}` are filled in."""

    path: str


class JUnitPublisher:
    """Writes the run's JUnit XML (flaky reruns included) with dtf.junit.write_junit."""

    Options: ClassVar[type[PublisherOptions]] = JUnitOptions

    def __init__(self, options: PublisherOptions):
        assert isinstance(options, JUnitOptions)
        self.options = options

    def plan(self, run: PublishInput) -> list[Delivery]:
        path = self.options.path.format(run_id=run.facts.run_id, campaign=run.facts.campaign)
        body = {"path": path, "campaign": run.facts.campaign}
        return [Delivery("junit", "junit", f"file {path}", body)]

    def deliver(self, kind: str, body: Mapping[str, Any], ctx: DeliveryContext) -> str:
        path = Path(str(body["path"]))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_junit(ctx.store.results_of(ctx.run_id), path, name=str(body["campaign"]))
        except OSError as exc:
            raise PublishError(f"cannot write JUnit XML {path}: {exc.strerror}") from exc
        return f"file:{path}"


class PrometheusOptions(PublisherOptions):
    """A textfile-collector path and/or a Pushgateway URL; `{run_id}`, `{campaign}` filled."""

    path: str | None = None
    pushgateway: str | None = None
    job: str = "dtf"


class PrometheusPublisher:
    """Prometheus text-format metrics of the run: counts, durations, pass rates."""

    Options: ClassVar[type[PublisherOptions]] = PrometheusOptions

    def __init__(self, options: PublisherOptions):
        assert isinstance(options, PrometheusOptions)
        self.options = options

    def plan(self, run: PublishInput) -> list[Delivery]:
        o = self.options
        text = metrics_text(run)
        out = []
        if o.path:
            path = o.path.format(run_id=run.facts.run_id, campaign=run.facts.campaign)
            out.append(
                Delivery("textfile", "textfile", f"file {path}", {"path": path, "text": text})
            )
        if o.pushgateway:
            url = (
                f"{o.pushgateway.rstrip('/')}/metrics/job/{quote(o.job, safe='')}"
                f"/campaign/{quote(run.facts.campaign, safe='')}"
            )
            out.append(
                Delivery("push", "push", f"pushgateway {o.pushgateway}", {"url": url, "text": text})
            )
        return out

    def deliver(self, kind: str, body: Mapping[str, Any], ctx: DeliveryContext) -> str:
        if kind == "textfile":
            path = Path(str(body["path"]))
            try:
                _atomic_write(path, str(body["text"]))
            except OSError as exc:
                raise PublishError(f"cannot write metrics {path}: {exc.strerror}") from exc
            return f"file:{path}"
        url = str(body["url"])
        with transport_errors(f"Pushgateway {url.split('/metrics/')[0]}"):
            # PUT replaces the campaign's group: pushing the same run again is harmless.
            default_handler(
                url,
                "PUT",
                self.options.timeout_seconds,
                [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)],
                str(body["text"]).encode(),
            )()
        return f"push:{url}"


def metrics_text(run: PublishInput) -> str:
    """The run's metrics in Prometheus text format (labels: campaign, suite, hardware)."""
    facts = run.facts
    reg = CollectorRegistry()
    c = {"campaign": facts.campaign}
    tests = Gauge(
        "dtf_tests",
        "Tests by outcome (latest attempt)",
        ["campaign", "suite", "hardware", "outcome"],
        registry=reg,
    )
    durations = Gauge(
        "dtf_test_duration_seconds_sum",
        "Summed test durations",
        ["campaign", "suite", "hardware"],
        registry=reg,
    )
    rates = Gauge(
        "dtf_pass_rate",
        "Share of non-skipped tests that passed",
        ["campaign", "suite", "hardware"],
        registry=reg,
    )
    groups: dict[tuple[str, str], list[Any]] = {}
    for r in facts.results:
        groups.setdefault((r.suite, r.hardware), []).append(r)
    for (suite, hardware), rows in sorted(groups.items()):
        labels = {**c, "suite": suite, "hardware": hardware or "-"}
        for row in rows:
            tests.labels(**labels, outcome="flaky" if row.flaky else row.outcome).inc()
        durations.labels(**labels).set(sum(r.duration for r in rows))
        ran = [r for r in rows if r.outcome != "skipped"]
        passed = sum(1 for r in ran if r.outcome in PASSING and not r.flaky)
        rates.labels(**labels).set(passed / len(ran) if ran else 1.0)
    _run_gauges(run, reg, c)
    return generate_latest(reg).decode()


def _run_gauges(run: PublishInput, reg: CollectorRegistry, c: dict[str, str]) -> None:
    facts = run.facts
    started, finished = facts.run.get("started_at"), facts.run.get("finished_at")
    values = {
        "dtf_run_passed": (
            "1 if the run and its validation passed",
            float(run.verdict == "passed"),
        ),
        "dtf_run_duration_seconds": (
            "Wall time of the run",
            float(finished - started) if started and finished else 0.0,
        ),
        "dtf_run_finished_timestamp_seconds": ("When the run finished", float(finished or 0.0)),
        "dtf_new_failures": (
            "Tests failing now and not in the baseline",
            len(facts.new_failures()),
        ),
        "dtf_flaky_tests": ("Tests that passed only on a rerun", len(facts.flaky())),
        "dtf_missing_results": (
            "Planned tests without a result",
            max(facts.planned_count - facts.tests_with_results(), 0),
        ),
        "dtf_validation_failed_expectations": (
            "Expectations the run failed",
            len(run.validation.failed) if run.validation else 0,
        ),
    }
    for name, (doc, value) in values.items():
        Gauge(name, doc, ["campaign"], registry=reg).labels(**c).set(float(value))
    Gauge(
        "dtf_run_info", "The run these metrics describe", ["campaign", "run_id"], registry=reg
    ).labels(**c, run_id=facts.run_id).set(1)


def _atomic_write(path: Path, text: str) -> None:
    # A textfile collector may read at any moment: write aside, then rename into place.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)
