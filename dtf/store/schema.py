"""The results schema, one SQLAlchemy Core metadata for DuckDB and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
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
)

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

results = Table(
    "results",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("test_id", Text, primary_key=True),
    Column("attempt", Integer, primary_key=True),
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
)
Index("ix_results_test_hardware", results.c.test_id, results.c.hardware)
Index("ix_results_run_outcome", results.c.run_id, results.c.outcome)

metrics = Table(
    "metrics",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("test_id", Text, primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("value", Double, nullable=False),
    Column("unit", String(32), nullable=False, default=""),
    Column("hardware", String(128), nullable=False, default=""),
)
Index("ix_metrics_name", metrics.c.name, metrics.c.hardware)
