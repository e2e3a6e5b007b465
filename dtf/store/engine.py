"""Engines and connections for the store: DuckDB without a pool, bounded retries on its lock."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from dtf.errors import StoreError

# duckdb_engine is imported eagerly: when SQLAlchemy first loads it lazily inside a Prefect
# flow run, DuckDB's bindings report dozens of "nanobind: leaked" lines at interpreter exit.
import duckdb_engine  # noqa: F401  isort: skip

LOCK_TIMEOUT_ENV = "DTF_STORE_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 15.0
# DuckDB's message when another process holds the file (read-write or read-only).
_LOCK_MARKERS = ("Could not set lock on file", "Conflicting lock")


def make_engine(url: str) -> Engine:
    """An engine for `url`; DuckDB gets no pool so the file is held only per operation."""
    if url.startswith("duckdb:///"):
        path = url.removeprefix("duckdb:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return create_engine(url, poolclass=NullPool)
    return create_engine(url, pool_pre_ping=True)


def warm_up() -> None:
    """Pay for what a process's first DuckDB engine and connection load (the dialect's setup,
    DuckDB's list of settings: 0.05-0.07 s), in a process that forks the ones that run (the
    warm launcher)."""
    engine = make_engine("duckdb:///:memory:")
    engine.connect().close()
    engine.dispose()


def lock_timeout_from_env() -> float:
    """Seconds to wait for another process's DuckDB lock: $DTF_STORE_LOCK_TIMEOUT or 15."""
    raw = os.environ.get(LOCK_TIMEOUT_ENV, "")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_LOCK_TIMEOUT
    except ValueError as exc:
        raise StoreError(f"{LOCK_TIMEOUT_ENV}={raw!r} is not a number of seconds") from exc


def is_lock_conflict(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", None) or exc)
    return isinstance(exc, DBAPIError) and any(marker in text for marker in _LOCK_MARKERS)


def connect_with_retry(engine: Engine, timeout: float, location: str) -> Connection:
    """Open a connection, waiting up to `timeout` seconds while another process holds DuckDB.

    A lock conflict can only happen when the connection opens: once open, this process holds
    the file until the connection closes, so retrying the open is enough for reads and writes.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            return engine.connect()
        except SQLAlchemyError as exc:
            if not is_lock_conflict(exc):
                raise StoreError(f"results store {location}: {first_line(exc)}") from exc
            if time.monotonic() + delay > deadline:
                raise StoreError(_locked_message(location, timeout, exc)) from exc
        # Jittered exponential backoff: two waiting readers should not retry in lockstep.
        time.sleep(delay * random.uniform(0.5, 1.0))
        delay = min(delay * 2, 0.2)


@contextmanager
def transaction(engine: Engine, timeout: float, location: str) -> Iterator[Connection]:
    """One short transaction: commit on success, roll back and raise StoreError on failure."""
    conn = connect_with_retry(engine, timeout, location)
    try:
        with transaction_on(conn, location):
            yield conn
    finally:
        conn.close()


@contextmanager
def transaction_on(conn: Connection, location: str) -> Iterator[Connection]:
    """A transaction on an open connection, its errors translated into StoreError."""
    # Bulk paths talk to the driver directly, so its own errors are translated here too.
    driver_error = getattr(conn.engine.dialect.loaded_dbapi, "Error", SQLAlchemyError)
    try:
        with conn.begin():
            yield conn
    except (SQLAlchemyError, driver_error) as exc:
        raise StoreError(f"results store {location}: {first_line(exc)}") from exc


def redact(url: str) -> str:
    """The URL with its password replaced, fit for messages and logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _locked_message(location: str, timeout: float, exc: BaseException) -> str:
    return (
        f"results store {location} stayed locked by another process for {timeout:g} s "
        f"({first_line(exc)}). DuckDB admits one process per file at a time: retry when the "
        f"campaign's write is done, raise ${LOCK_TIMEOUT_ENV}, or use PostgreSQL "
        "($DTF_DATABASE_URL) where many processes share the store"
    )
