"""JUnit XML and Prometheus metrics (textfile and a Pushgateway fake)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dtf.publishing.outbox import Outbox
from dtf.publishing.service import deliver_pending, publish_run
from dtf.publishing.spec import PublisherSpec
from dtf.store.results import ResultStore
from tests.fakes.forges import FakePushgateway
from tests.fakes.scenario import FLAKY, scenario_store


@pytest.fixture
def store(tmp_path: Path, dtf_home: Path) -> Iterator[ResultStore]:
    with scenario_store(tmp_path / "store.duckdb") as seeded:
        yield seeded


@pytest.fixture
def gateway() -> Iterator[FakePushgateway]:
    fake = FakePushgateway().start()
    yield fake
    fake.stop()


def test_junit_xml_is_written_where_the_campaign_says(store: ResultStore, tmp_path: Path):
    spec = PublisherSpec.model_validate(
        {"kind": "junit", "path": str(tmp_path / "out" / "{run_id}.xml")}
    )
    report = publish_run(store, "r2", [spec], env={})
    assert report.complete, report.pending
    root = ET.parse(tmp_path / "out" / "r2.xml").getroot()
    cases = {f"{c.get('classname')}::{c.get('name')}": c for c in root.iter("testcase")}
    assert len(cases) == 11
    failures = [c for c in cases.values() if c.find("failure") is not None]
    errors = [c for c in cases.values() if c.find("error") is not None]
    assert (len(failures), len(errors)) == (3, 2)
    flaky = next(c for k, c in cases.items() if k.endswith(FLAKY.rsplit("::", 1)[1]))
    # Failed, then passed on a rerun: a pass with the failed attempt as <flakyFailure>.
    assert flaky.find("failure") is None
    assert flaky.find("flakyFailure") is not None


def test_prometheus_textfile_and_pushgateway(
    store: ResultStore, tmp_path: Path, gateway: FakePushgateway
):
    spec = PublisherSpec.model_validate(
        {"kind": "prometheus", "path": str(tmp_path / "m.prom"), "pushgateway": gateway.url}
    )
    report = publish_run(store, "r2", [spec], env={})
    assert report.complete, report.pending
    text = (tmp_path / "m.prom").read_text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    unit = (("campaign", "nightly"), ("hardware", "cpu"), ("suite", "unit"))
    assert samples[("dtf_tests", (*unit[:2], ("outcome", "failed"), unit[2]))] == 3
    assert samples[("dtf_tests", (*unit[:2], ("outcome", "flaky"), unit[2]))] == 1
    assert samples[("dtf_pass_rate", unit)] == pytest.approx(5 / 10)
    assert samples[("dtf_run_passed", (("campaign", "nightly"),))] == 0
    assert samples[("dtf_new_failures", (("campaign", "nightly"),))] == 3
    assert samples[("dtf_run_duration_seconds", (("campaign", "nightly"),))] == 60
    assert gateway.groups == {"job/dtf/campaign/nightly": text}


def test_a_pushgateway_outage_leaves_the_push_pending_until_retried(
    store: ResultStore, gateway: FakePushgateway
):
    gateway.outage = True
    spec = PublisherSpec.model_validate(
        {"kind": "prometheus", "pushgateway": gateway.url, "retry": {"max_attempts": 2}}
    )
    report = publish_run(store, "r2", [spec], env={}, sleep=lambda s: None)
    (why,) = report.pending.values()
    assert "unavailable (HTTP 503)" in why
    (row,) = Outbox(store).pending("r2")
    assert row.attempts == 2 and "HTTP 503" in row.last_error

    gateway.outage = False
    assert deliver_pending(store).complete
    assert gateway.groups and not Outbox(store).pending()
