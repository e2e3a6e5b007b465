"""The results schema, one SQLAlchemy Core metadata for DuckDB and PostgreSQL.

The migrations under dtf/store/migrations create exactly these tables; a test compares the two.
Identifiers are strings chosen by the writer (no sequences): DuckDB and PostgreSQL disagree on
auto-increment, and a writer-chosen key is what makes a retried write idempotent.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Times are seconds since the epoch (DOUBLE): the same on both backends and cheap to compare.
runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("campaign", String(128), nullable=False),
    Column("source", Text, nullable=False, default=""),
    Column("trigger", String(64), nullable=False, default="cli"),
    Column("parameters", Text, nullable=False, default="{}"),
    Column("flow_run_id", String(64)),
    Column("flow_run_url", Text),
    Column("started_at", Double, nullable=False),
    Column("finished_at", Double),
    Column("status", String(32), nullable=False, default="running"),
    Column("verdict", String(32)),
    Column("planned_tests", Integer, nullable=False, default=0),
    # The source ref (git sha/branch) and the matrix cell, canonical JSON; a baseline is the
    # previous completed run of the same campaign and matrix. NULL on runs older than 0002.
    Column("ref", String(256)),
    Column("matrix", Text),
)
Index("ix_runs_campaign_started", runs.c.campaign, runs.c.started_at)

shards = Table(
    "shards",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("shard_id", String(128), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("suite", String(128), nullable=False),
    Column("needs", Text, nullable=False, default="{}"),
    Column("tests", Integer, nullable=False),
    Column("estimated_seconds", Double, nullable=False, default=0.0),
    Column("status", String(32), nullable=False),
    Column("worker", String(256), nullable=False, default=""),
    Column("hardware", String(128), nullable=False, default=""),
    Column("launches", Integer, nullable=False, default=0),
    Column("started_at", Double),
    Column("finished_at", Double),
    Column("wall_seconds", Double),
    Column("message", Text, nullable=False, default=""),
)

# A test is identified within a run by its suite and test id: two suites may select the same
# tests for different hardware (revision 0002 added suite to the keys of results and metrics).
results = Table(
    "results",
    metadata,
    Column("run_id", String(64), nullable=False),
    Column("test_id", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("suite", String(128), nullable=False),
    Column("shard_id", String(128), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("duration", Double, nullable=False, default=0.0),
    Column("worker", String(256), nullable=False, default=""),
    Column("hardware", String(128), nullable=False, default=""),
    Column("simulated", Boolean, nullable=False, default=False),
    Column("message", Text, nullable=False, default=""),
    Column("output", Text, nullable=False, default=""),
    Column("started_at", Double),
    Column("finished_at", Double),
    # Key order matters on PostgreSQL: rewriting a shard deletes by run, suite and a list of
    # test ids, which this order serves as an index range instead of a scan of the whole run.
    PrimaryKeyConstraint("run_id", "suite", "test_id", "attempt"),
)
Index("ix_results_test_hardware", results.c.test_id, results.c.hardware)
Index("ix_results_run_outcome", results.c.run_id, results.c.outcome)

metrics = Table(
    "metrics",
    metadata,
    Column("run_id", String(64), nullable=False),
    Column("test_id", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("name", String(128), nullable=False),
    Column("value", Double, nullable=False),
    Column("unit", String(32), nullable=False, default=""),
    Column("hardware", String(128), nullable=False, default=""),
    Column("suite", String(128), nullable=False, default=""),
    PrimaryKeyConstraint("run_id", "suite", "test_id", "attempt", "name"),
)
Index("ix_metrics_name", metrics.c.name, metrics.c.hardware)

# --- added by revision 0002: fleet, recovery and publication state --------------------------

# One row per worker name, upserted when a worker starts or is seen by the flow. `hardware` is
# the detected taxonomy (JSON), `resources` the Dask resources it advertises (JSON).
workers = Table(
    "workers",
    metadata,
    Column("worker", String(256), primary_key=True),
    Column("address", Text, nullable=False, default=""),
    Column("hardware_class", String(128), nullable=False, default=""),
    Column("hardware", Text, nullable=False, default="{}"),
    Column("resources", Text, nullable=False, default="{}"),
    Column("simulated", Boolean, nullable=False, default=False),
    Column("first_seen", Double, nullable=False),
    Column("last_seen", Double, nullable=False),
    Column("status", String(32), nullable=False, default="up"),
)

# One row per rung climbed on the recovery ladder (DESIGN.md section 4). `outcome` is filled
# when the strategy's result is known, so the ladder can prefer what worked per error class
# and hardware. `event_id` is chosen by the writer, e.g. "<run>/<shard>/<attempt>/<rung>".
recovery_events = Table(
    "recovery_events",
    metadata,
    Column("event_id", String(256), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("shard_id", String(128), nullable=False),
    Column("attempt", Integer, nullable=False, default=0),
    Column("worker", String(256), nullable=False, default=""),
    Column("hardware", String(128), nullable=False, default=""),
    Column("error_class", String(32), nullable=False),
    Column("rung", Integer, nullable=False),
    Column("strategy", String(64), nullable=False),
    Column("outcome", String(32), nullable=False, default="pending"),
    Column("message", Text, nullable=False, default=""),
    Column("occurred_at", Double, nullable=False),
)
Index("ix_recovery_run", recovery_events.c.run_id)
Index("ix_recovery_class_hardware", recovery_events.c.error_class, recovery_events.c.hardware)

# Circuit breakers, one row per scope ("worker" or "hardware") and subject (a worker name or a
# hardware class); state is "closed", "open" or "half_open". Placement reads it, recovery writes.
circuit_states = Table(
    "circuit_states",
    metadata,
    Column("scope", String(16), primary_key=True),
    Column("subject", String(256), primary_key=True),
    Column("state", String(16), nullable=False, default="closed"),
    Column("failures", Integer, nullable=False, default=0),
    Column("opened_at", Double),
    Column("updated_at", Double, nullable=False),
    Column("reason", Text, nullable=False, default=""),
)

# Quarantined tests still run and are reported, but do not fail the campaign. A quarantine
# has an owner issue and an expiry; `released_at` is set when it is lifted (history is kept).
quarantine = Table(
    "quarantine",
    metadata,
    Column("campaign", String(128), primary_key=True),
    Column("test_id", Text, primary_key=True),
    Column("reason", Text, nullable=False, default=""),
    Column("owner_issue", Text, nullable=False, default=""),
    Column("added_at", Double, nullable=False),
    Column("expires_at", Double),
    Column("released_at", Double),
    Column("hardware", String(128)),  # None: every hardware class
)

# The publication outbox: a delivery is recorded (status "pending") before it is attempted and
# marked "sent" when the target confirms, so an outage delays it but never loses or doubles it.
# `delivery_id` is deterministic (e.g. "<run>/<publisher>/<kind>") so recording is idempotent.
outbox = Table(
    "outbox",
    metadata,
    Column("delivery_id", String(256), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("publisher", String(64), nullable=False),
    Column("target", Text, nullable=False, default=""),
    Column("payload", Text, nullable=False, default="{}"),
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("sent_at", Double),
    Column("remote_ref", Text, nullable=False, default=""),
    Column("last_error", Text, nullable=False, default=""),
)
Index("ix_outbox_status", outbox.c.status, outbox.c.created_at)

# --- added by revision 0004: what each worker's environment held -------------------------

# One row per run, worker and lock hash: the interpreter, platform and installed packages
# (`uv pip freeze`, a JSON list) of the environment a worker built for the run's commit `sha`.
run_environments = Table(
    "run_environments",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("worker", String(256), primary_key=True),
    Column("lock_hash", String(64), primary_key=True),
    Column("sha", String(40)),
    Column("python", String(32), nullable=False, default=""),
    Column("platform", String(128), nullable=False, default=""),
    Column("packages", Text, nullable=False, default="[]"),
    Column("recorded_at", Double, nullable=False),
)
