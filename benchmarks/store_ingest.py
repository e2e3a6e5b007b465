"""Ingest of result rows into the store: the bulk path, and the flow's per-shard path.

    .venv/bin/python benchmarks/store_ingest.py                         # 1,000,000 rows, DuckDB
    .venv/bin/python benchmarks/store_ingest.py --backend both \\
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/store_ingest.py --rows 2000 --shard-rows 2000   # smoke size

`bulk`: ResultStore.bulk_insert, one transaction (DuckDB scans NumPy arrays; PostgreSQL gets
COPY). `shards`: ResultStore.write_shard per shard of --shard-size tests, as the campaign flow
writes (delete the attempt's earlier rows, then insert), each its own transaction.
Target: 1,000,000 rows into DuckDB in under 10 s. Generating the rows is not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from dtf.execution.outcomes import CaseResult, Outcome, ShardOutcome
from dtf.store.results import ResultStore, ShardRecord

OUTCOMES: tuple[Outcome, ...] = ("passed",) * 46 + ("failed", "skipped", "error", "xfailed")


def columns(rows: int, runs: int) -> dict[str, list[Any]]:
    """Result rows column-wise: `runs` runs of rows/runs tests, a realistic mix of outcomes."""
    per_run = max(1, rows // runs)
    return {
        "run_id": [f"bench-run-{i // per_run:04d}" for i in range(rows)],
        "test_id": [
            f"tests/pkg{i % 97}/test_mod{i % 1009}.py::test_case_{i % per_run}" for i in range(rows)
        ],
        "attempt": [0] * rows,
        "suite": [f"suite-{i % 7}" for i in range(rows)],
        "shard_id": [f"shard-{(i % per_run) // 500}" for i in range(rows)],
        "outcome": [OUTCOMES[(i * 7919) % len(OUTCOMES)] for i in range(rows)],
        "duration": [((i * 2654435761) % 10_000) / 1000.0 for i in range(rows)],
        "worker": [f"worker-{i % 16}" for i in range(rows)],
        "hardware": ["cuda" if i % 7 == 3 else "cpu" for i in range(rows)],
        "message": [
            "AssertionError: x" if (i * 7919) % 50 in (46, 48) else "" for i in range(rows)
        ],
        "started_at": [1.7e9 + i * 0.01 for i in range(rows)],
        "finished_at": [1.7e9 + i * 0.01 + 0.005 for i in range(rows)],
    }


def shard_outcomes(rows: int, size: int) -> list[tuple[ShardRecord, ShardOutcome]]:
    out = []
    for start in range(0, rows, size):
        n = min(size, rows - start)
        cases = [
            CaseResult(
                f"tests/test_m{(start + j) % 1009}.py::test_{start + j}",
                OUTCOMES[(start + j) % len(OUTCOMES)],
                0.01 * (j % 100),
            )
            for j in range(n)
        ]
        shard = f"shard-{start // size:05d}"
        out.append(
            (
                ShardRecord("bench-shards", shard, "unit", 0, {"cpu": 1}, n, 1.0),
                ShardOutcome(shard, cases, 1, 1.0, "worker-0", "cpu"),
            )
        )
    return out


def measure(url: str, rows: int, runs: int, shard_rows: int, shard_size: int) -> dict[str, Any]:
    data = columns(rows, runs)
    store = ResultStore(url)
    try:
        begin = time.perf_counter()
        store.bulk_insert("results", data)
        bulk = time.perf_counter() - begin
        shards = shard_outcomes(shard_rows, shard_size)
        store.start_run("bench-shards", "bench", source="", parameters={})
        begin = time.perf_counter()
        for record, outcome in shards:
            store.write_shard(record, outcome)
        per_shard = time.perf_counter() - begin
    finally:
        store.close()
    return {
        "rows": rows,
        "bulk_seconds": round(bulk, 3),
        "bulk_rows_per_second": round(rows / bulk),
        "shard_rows": shard_rows,
        "shard_size": shard_size,
        "shards_seconds": round(per_shard, 3),
        "shards_rows_per_second": round(shard_rows / per_shard) if per_shard else None,
    }


@contextmanager
def fresh_postgres(base: str) -> Iterator[str]:
    name = "dtf_bench_" + secrets.token_hex(4)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield re.sub(r"/[^/]*$", f"/{name}", base)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for the bulk path")
    parser.add_argument("--runs", type=int, default=100, help="runs the bulk rows spread over")
    parser.add_argument(
        "--shard-rows", type=int, default=100_000, help="rows for the per-shard path (0 to skip)"
    )
    parser.add_argument("--shard-size", type=int, default=1_000, help="tests per shard")
    parser.add_argument("--backend", choices=("duckdb", "postgres", "both"), default="duckdb")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("DTF_TEST_POSTGRES_URL"),
        help="a server URL whose user may create databases",
    )
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    if args.backend in ("duckdb", "both"):
        with tempfile.TemporaryDirectory(prefix="dtf-bench-ingest-") as tmp:
            url = f"duckdb:///{Path(tmp) / 'bench.duckdb'}"
            report["duckdb"] = measure(url, args.rows, args.runs, args.shard_rows, args.shard_size)
    if args.backend in ("postgres", "both"):
        if not args.postgres_url:
            parser.error("--postgres-url (or DTF_TEST_POSTGRES_URL) is needed for PostgreSQL")
        with fresh_postgres(args.postgres_url) as url:
            report["postgres"] = measure(
                url, args.rows, args.runs, args.shard_rows, args.shard_size
            )
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
