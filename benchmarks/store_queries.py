"""Analysis queries over a large generated history: summary, baseline diff, flaky, history.

    .venv/bin/python benchmarks/store_queries.py                      # 10,000,000 rows, DuckDB
    .venv/bin/python benchmarks/store_queries.py --backend postgres \\
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/store_queries.py --rows 20000         # smoke size

The history is --runs runs of rows/runs tests each (1,000 x 10,000 by default), generated
inside the database (INSERT ... SELECT over a range), with about 3% failures that move from
run to run. Timed: the campaign summary and the baseline diff of the newest run (target
under 1 s each on DuckDB), and for context the flaky ranking over 30 runs and a test's
history, and change-point detection over 30 runs (every test's duration series; run once).
Each query runs --repeat times; the first (cold) and best times are reported.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from dtf.analysis.baseline import baseline_diff
from dtf.analysis.flaky import flaky_tests
from dtf.analysis.history import history_of
from dtf.analysis.performance import regressions
from dtf.analysis.summary import campaign_summary
from dtf.store.results import ResultStore

# A pseudo-random but reproducible outcome per (run, test): about 3% fail, changing per run.
_MIX = "((r * 7919 + t * 104729 + (r * t) % 9973) % 1000)"
RESULTS_SQL = f"""
INSERT INTO results (run_id, suite, test_id, attempt, shard_id, outcome, duration, worker,
                     hardware, simulated, message, output, started_at, finished_at)
SELECT 'run-' || lpad(CAST(r AS VARCHAR), 5, '0'), 'suite-' || CAST(t % 7 AS VARCHAR),
       'tests/pkg' || CAST(t % 50 AS VARCHAR) || '/test_m' || CAST(t % 400 AS VARCHAR)
           || '.py::test_' || CAST(t AS VARCHAR),
       0, 'shard-' || CAST(t / 500 AS VARCHAR),
       CASE WHEN {_MIX} < 25 THEN 'failed' WHEN {_MIX} < 30 THEN 'error'
            WHEN {_MIX} < 60 THEN 'skipped' ELSE 'passed' END,
       (t % 1000) / 1000.0 * (0.95 + ((r * 31 + t * 17) % 101) / 1000.0),
       'worker-' || CAST(t % 16 AS VARCHAR),
       CASE WHEN t % 7 = 3 THEN 'cuda' ELSE 'cpu' END, false,
       CASE WHEN {_MIX} < 30 THEN 'AssertionError: boom' ELSE '' END, '',
       1.7e9 + r * 86400.0 + t * 0.01, 1.7e9 + r * 86400.0 + t * 0.01 + 0.005
FROM {{ranges}}
"""
RUNS_SQL = """
INSERT INTO runs (run_id, campaign, source, trigger, parameters, started_at, finished_at,
                  status, verdict, planned_tests)
SELECT 'run-' || lpad(CAST(r AS VARCHAR), 5, '0'), 'bench', 'generated', 'schedule', '{{}}',
       1.7e9 + r * 86400.0, 1.7e9 + r * 86400.0 + 3600.0, 'completed', 'failed', {tests}
FROM {ranges}
"""
SHARDS_SQL = """
INSERT INTO shards (run_id, shard_id, attempt, suite, needs, tests, estimated_seconds, status,
                    worker, hardware, launches, started_at, finished_at, wall_seconds, message)
SELECT 'run-' || lpad(CAST(r AS VARCHAR), 5, '0'), 'shard-' || CAST(s AS VARCHAR), 0, 'suite',
       '{{}}', 500, 250.0, 'done', 'worker-' || CAST(s % 16 AS VARCHAR), 'cpu', 1,
       1.7e9 + r * 86400.0, 1.7e9 + r * 86400.0 + 260.0, 260.0, ''
FROM {ranges}
"""


def _ranges(dialect: str, **sizes: int) -> str:
    """FROM-clause ranges: DuckDB's range(), PostgreSQL's generate_series()."""
    parts = []
    for name, size in sizes.items():
        if dialect == "duckdb":
            parts.append(f"range(0, {size}) AS {name}_({name})")
        else:
            parts.append(f"generate_series(0, {size - 1}) AS {name}_({name})")
    return " CROSS JOIN ".join(parts)


def generate(store: ResultStore, runs: int, tests: int) -> float:
    """Fill the store with `runs` x `tests` results (in run order, as a store grows)."""
    dialect = store.dialect
    begin = time.perf_counter()
    with store.transaction() as conn:
        conn.execute(text(RUNS_SQL.format(tests=tests, ranges=_ranges(dialect, r=runs))))
        conn.execute(
            text(SHARDS_SQL.format(ranges=_ranges(dialect, r=runs, s=max(1, tests // 500))))
        )
    # One transaction per block of runs keeps memory flat for 10^7 rows.
    step = max(1, 2_000_000 // tests)
    for first in range(0, runs, step):
        block = (
            f"(SELECT r0 + {first} AS r, t FROM "
            f"{_ranges(dialect, r0=min(step, runs - first), t=tests)}) AS block"
        )
        with store.transaction() as conn:
            conn.execute(text(RESULTS_SQL.format(ranges=block)))
    if dialect == "postgresql":
        with store.transaction() as conn:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - begin


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        begin = time.perf_counter()
        fn()
        times.append(time.perf_counter() - begin)
    return {"cold": round(times[0], 3), "best": round(min(times), 3)}


def measure(url: str, runs: int, tests: int, repeat: int) -> dict[str, Any]:
    store = ResultStore(url)
    try:
        generated = generate(store, runs, tests)
        last = f"run-{runs - 1:05d}"
        some_test = "tests/pkg3/test_m3.py::test_3"
        summary = campaign_summary(store, last)
        diff = baseline_diff(store, last)
        return {
            "rows": runs * tests,
            "runs": runs,
            "tests_per_run": tests,
            "generate_seconds": round(generated, 1),
            "summary": timed(lambda: campaign_summary(store, last), repeat),
            "baseline_diff": timed(lambda: baseline_diff(store, last), repeat),
            "flaky_30_runs": timed(lambda: flaky_tests(store, run_id=last, window=30), repeat),
            "history_50_runs": timed(lambda: history_of(store, some_test, 50), repeat),
            "regressions_30_runs": timed(lambda: regressions(store, last, window=30), 1),
            "check": {
                "tests": summary.tests,
                "failing": summary.failing,
                "baseline": diff.baseline_id,
                "new_failures": len(diff.new_failures),
                "fixed": len(diff.fixed),
            },
        }
    finally:
        store.close()


@contextmanager
def fresh_postgres(base: str) -> Iterator[str]:
    """A new database on the server at `base`, dropped afterwards."""
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
    parser.add_argument("--rows", type=int, default=10_000_000, help="result rows in all")
    parser.add_argument("--runs", type=int, default=1_000, help="runs they spread over")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each query")
    parser.add_argument("--backend", choices=("duckdb", "postgres"), default="duckdb")
    parser.add_argument("--postgres-url", default=os.environ.get("DTF_TEST_POSTGRES_URL"))
    args = parser.parse_args(argv)
    runs = max(2, min(args.runs, args.rows // 2))
    tests = max(1, args.rows // runs)
    report: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    if args.backend == "duckdb":
        with tempfile.TemporaryDirectory(prefix="dtf-bench-queries-") as tmp:
            url = f"duckdb:///{Path(tmp) / 'bench.duckdb'}"
            report["duckdb"] = measure(url, runs, tests, args.repeat)
    else:
        if not args.postgres_url:
            parser.error("--postgres-url (or DTF_TEST_POSTGRES_URL) is needed for PostgreSQL")
        with fresh_postgres(args.postgres_url) as url:
            report["postgres"] = measure(url, runs, tests, args.repeat)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
