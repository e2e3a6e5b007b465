"""Dask settings that keep an idle scheduler and worker off the CPU the tests need."""

from __future__ import annotations

from collections.abc import Mapping

# Dask's defaults suit interactive analysis: a 20 ms event-loop probe, a 10 ms statistical
# profiler sampling every worker thread, a 100 ms memory monitor. Idle, they took 7.8% of
# one core across a scheduler and 2 workers (1.2% with these: benchmarks/dask_idle_cpu.py),
# CPU that CPU-bound tests on a host whose every core runs a test would lose.
QUIET_DASK_ENV: dict[str, str] = {
    # Only measures event-loop blockage; the 3 s warning limit still works at 1 s.
    "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "1s",
    # Feeds the dashboard's CPU and memory plots, which dtf's cluster does not serve.
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "2s",
    # Watches the worker process itself; shards run in child processes it does not count.
    "DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL": "1s",
    # The dashboard's profiler: a shard's thread only waits for its pytest process.
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
}


def quiet_dask_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The quiet settings that `environ` does not already set (the user's own value wins)."""
    return {k: v for k, v in QUIET_DASK_ENV.items() if k not in environ}
