"""Fast appends of many rows: a scanned column batch on DuckDB, COPY on PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Boolean, Connection, Double, Integer, Table, insert

Columns = Mapping[str, Sequence[Any]]

# Row-at-a-time parameter binding is the slow part of executemany on DuckDB (about 10^4
# rows/s); scanning one batch of NumPy arrays is about 10^6 rows/s, inside the same transaction.
_BATCH_VIEW = "dtf_bulk_batch"
_COPY_CHUNK = 10_000
_EXECUTEMANY_CHUNK = 1_000


def rows_to_columns(table: Table, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Rows (dicts) as one list per column of `table`; absent values take the column default."""
    return {
        name: [row.get(name, default) for row in rows] for name, default in _defaults(table).items()
    }


def insert_columns(conn: Connection, table: Table, columns: Columns) -> int:
    """Append the rows given column-wise (missing columns take their defaults); returns count."""
    full = _complete(table, columns)
    count = len(next(iter(full.values()), ()))
    if count == 0:
        return 0
    dialect = conn.dialect.name
    if dialect == "duckdb":
        _insert_duckdb(conn, table, full)
    elif dialect == "postgresql" and conn.dialect.driver == "psycopg":
        _copy_postgres(conn, table, full)
    else:
        names = list(full)
        for chunk in _chunks(zip(*full.values(), strict=True), _EXECUTEMANY_CHUNK):
            conn.execute(insert(table), [dict(zip(names, row, strict=True)) for row in chunk])
    return count


def _complete(table: Table, columns: Columns) -> dict[str, Sequence[Any]]:
    unknown = set(columns) - set(table.c.keys())
    if unknown:
        raise ValueError(f"table {table.name} has no column(s) {sorted(unknown)}")
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns for {table.name} differ in length: {sorted(lengths)}")
    count = lengths.pop() if lengths else 0
    return {
        name: columns[name] if name in columns else [default] * count
        for name, default in _defaults(table).items()
    }


def _defaults(table: Table) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in table.c:
        default = column.default
        out[column.name] = getattr(default, "arg", None) if default is not None else None
    return out


def _insert_duckdb(conn: Connection, table: Table, columns: Mapping[str, Sequence[Any]]) -> None:
    batch = {name: _array(table, name, values) for name, values in columns.items()}
    raw = conn.connection.driver_connection
    assert raw is not None
    names = ", ".join(f'"{name}"' for name in columns)
    raw.register(_BATCH_VIEW, batch)
    raw.execute(f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM {_BATCH_VIEW}')
    # Not in a `finally`: after a failed insert DuckDB refuses everything until the rollback,
    # and the view goes away with the connection anyway.
    raw.unregister(_BATCH_VIEW)


def _array(table: Table, name: str, values: Sequence[Any]) -> np.ndarray[Any, Any]:
    kind = table.c[name].type
    has_null = any(v is None for v in values)
    # Typed arrays scan fastest; object arrays keep None as NULL (a float array would turn it
    # into NaN, which DuckDB stores as a number).
    if isinstance(kind, Double) and not has_null:
        return np.asarray(values, dtype=np.float64)
    if isinstance(kind, Integer) and not has_null:
        return np.asarray(values, dtype=np.int64)
    if isinstance(kind, Boolean) and not has_null:
        return np.asarray(values, dtype=np.bool_)
    return np.asarray(values, dtype=object)


def _copy_postgres(conn: Connection, table: Table, columns: Mapping[str, Sequence[Any]]) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    names = ", ".join(f'"{name}"' for name in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in zip(*columns.values(), strict=True):
            copy.write_row(row)


def _chunks(items: Iterator[Any] | zip[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
