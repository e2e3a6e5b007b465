"""Alembic migrations on both backends: from empty, from revision 0001, from pre-migration."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, insert, inspect, select, text
from typer.testing import CliRunner

from dtf.cli import app
from dtf.execution.outcomes import CaseResult, ShardOutcome
from dtf.store import migrate
from dtf.store.engine import make_engine
from dtf.store.environments import environments_of
from dtf.store.results import ResultStore, ShardRecord
from dtf.store.schema import metadata, outbox, runs

HEAD = migrate.head_revision()
NEW_TABLES = {"workers", "recovery_events", "circuit_states", "quarantine", "outbox",
              "run_environments"}  # fmt: skip


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _old_run(conn: Connection) -> None:
    """A run and a result written with revision 0001's columns only."""
    conn.execute(
        text(
            "INSERT INTO runs (run_id, campaign, source, trigger, parameters, started_at, status, "
            "planned_tests) VALUES ('old', 'nightly', 'src', 'cli', '{}', 1.0, 'completed', 1)"
        )
    )
    conn.execute(
        text(
            "INSERT INTO results (run_id, test_id, attempt, suite, shard_id, outcome, duration, "
            "worker, hardware, simulated, message, output) VALUES ('old', 't.py::a', 0, 'unit', "
            "'s0', 'failed', 0.5, 'w', 'cpu', false, 'boom', '')"
        )
    )
    conn.execute(
        text(
            "INSERT INTO metrics (run_id, test_id, attempt, name, value, unit, hardware) "
            "VALUES ('old', 't.py::a', 0, 'loss', 0.5, 'nat', 'cpu')"
        )
    )


def test_opening_an_empty_store_creates_the_newest_schema(store_url: str) -> None:
    store = ResultStore(store_url)
    try:
        assert store.revision() == HEAD
        assert int(HEAD) >= 2  # 0002 added the fleet, recovery and publication tables
        with store.transaction() as conn:
            assert _tables(conn) >= set(metadata.tables) | {"alembic_version"}
    finally:
        store.close()


def test_the_migrated_schema_matches_the_metadata(engine: Engine) -> None:
    with engine.begin() as conn:
        migrate.upgrade(conn)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        else:
            # duckdb_engine cannot reflect constraints or indexes (Alembic's comparison fails
            # there), so compare what it can reflect: every table's columns and nullability.
            for table in metadata.sorted_tables:
                reflected = {
                    c["name"]: c["nullable"] for c in inspect(conn).get_columns(table.name)
                }
                assert reflected == {c.name: c.nullable for c in table.c}, table.name


def test_upgrading_from_revision_0001_keeps_rows_and_adds_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        assert migrate.upgrade(conn, "0001") == "0001"
        assert not _tables(conn) & NEW_TABLES
        _old_run(conn)
    store = ResultStore(str(engine.url.render_as_string(hide_password=False)))
    try:
        assert store.revision() == HEAD
        run = store.run("old")
        assert run is not None and (run["campaign"], run["ref"], run["matrix"]) == (
            "nightly",
            None,
            None,
        )
        assert [f["message"] for f in store.failures("old")] == ["boom"]
        # 0002 keys metrics by suite too, and takes it from the test's result.
        [metric] = store.metrics_of("old")
        assert (metric["suite"], metric["name"], metric["value"]) == ("unit", "loss", 0.5)
        with store.transaction() as conn:
            assert _tables(conn) >= NEW_TABLES
            conn.execute(
                insert(outbox).values(
                    delivery_id="old/slack/summary",
                    run_id="old",
                    publisher="slack",
                    created_at=time.time(),
                    updated_at=time.time(),
                )
            )
            assert conn.execute(select(outbox.c.status)).scalar_one() == "pending"
    finally:
        store.close()


def test_upgrading_from_revision_0003_adds_the_run_environments(engine: Engine) -> None:
    with engine.begin() as conn:
        assert migrate.upgrade(conn, "0003") == "0003"
        assert "run_environments" not in _tables(conn)
        conn.execute(
            insert(runs).values(run_id="r3", campaign="c", source="", trigger="cli",
                                parameters="{}", started_at=1.0, status="completed",
                                planned_tests=1)
        )  # fmt: skip
    store = ResultStore(str(engine.url.render_as_string(hide_password=False)))
    try:
        assert store.revision() == HEAD and store.run("r3") is not None
        held = {"sha": "a" * 40, "lock_hash": "b" * 64, "python_version": "3.11.2",
                "platform": "linux-x86_64-cpython-311", "packages": ["six==1.17.0"]}  # fmt: skip
        outcome = ShardOutcome("s0", [CaseResult("t.py::a", "passed")], worker="w",
                               environment=held)  # fmt: skip
        for attempt in (0, 1):  # the second shard on the same worker adds no row
            store.write_shard(ShardRecord("r3", "s0", "unit", attempt, {}, 1, 0.0), outcome)
        [row] = environments_of(store, "r3")
        assert (row["worker"], row["sha"], row["python"], row["packages"]) == (
            "w", "a" * 40, "3.11.2", ["six==1.17.0"]
        )  # fmt: skip
    finally:
        store.close()
    with engine.begin() as conn:
        assert migrate.downgrade(conn, "0003") == "0003"
        assert "run_environments" not in _tables(conn)
        assert conn.execute(select(runs.c.run_id)).scalars().all() == ["r3"]


def test_a_store_from_before_migrations_is_stamped_then_upgraded(engine: Engine) -> None:
    # What dtf's metadata.create_all left behind: revision 0001's tables, no alembic_version.
    with engine.begin() as conn:
        migrate.upgrade(conn, "0001")
        _old_run(conn)
        conn.execute(text("DROP TABLE alembic_version"))
    with engine.begin() as conn:
        assert migrate.current_revision(conn) is None
        assert migrate.upgrade(conn) == HEAD
        assert conn.execute(select(runs.c.run_id)).scalars().all() == ["old"]
        assert _tables(conn) >= NEW_TABLES


def test_downgrade_to_empty_and_up_again(engine: Engine) -> None:
    with engine.begin() as conn:
        migrate.upgrade(conn)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO metrics (run_id, test_id, attempt, name, value, unit, hardware, "
                "suite) VALUES ('r', 't.py::a', 0, 'loss', 0.5, '', 'cpu', 'unit')"
            )
        )
    with engine.begin() as conn:
        assert migrate.downgrade(conn, "0001") == "0001"
        assert not _tables(conn) & NEW_TABLES
        assert "ref" not in {c["name"] for c in inspect(conn).get_columns("runs")}
        assert "suite" not in {c["name"] for c in inspect(conn).get_columns("metrics")}
        assert conn.execute(text("SELECT value FROM metrics")).scalars().all() == [0.5]
    with engine.begin() as conn:
        assert migrate.downgrade(conn, "base") is None
        assert _tables(conn) <= {"alembic_version"}
    with engine.begin() as conn:
        assert migrate.upgrade(conn) == HEAD


def test_upgrading_twice_is_a_no_op(engine: Engine) -> None:
    with engine.begin() as conn:
        migrate.upgrade(conn)
    with engine.begin() as conn:
        conn.execute(
            insert(runs).values(
                run_id="r",
                campaign="c",
                source="",
                trigger="cli",
                parameters="{}",
                started_at=1.0,
                status="running",
                planned_tests=0,
            )
        )
    with engine.begin() as conn:
        assert migrate.upgrade(conn) == HEAD
        assert conn.execute(select(runs.c.run_id)).scalars().all() == ["r"]


def test_db_upgrade_and_current_commands(store_url: str) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["db", "upgrade", "--url", store_url])
    assert first.exit_code == 0, first.output
    assert f"upgraded from empty to {HEAD}" in first.output
    again = runner.invoke(app, ["db", "upgrade", "--url", store_url])
    assert again.exit_code == 0 and f"at revision {HEAD} (newest)" in again.output
    current = runner.invoke(app, ["db", "current", "--url", store_url])
    assert current.exit_code == 0 and f"revision {HEAD}" in current.output


def test_db_current_exits_1_when_behind(engine: Engine, store_url: str) -> None:
    with engine.begin() as conn:
        migrate.upgrade(conn, "0001")
    result = CliRunner().invoke(app, ["db", "current", "--url", store_url])
    assert result.exit_code == 1
    assert f"revision 0001 (newest {HEAD})" in result.output
