"""dtf's scheduler and workers import what a shard task refers to before they serve."""

from __future__ import annotations

from pathlib import Path

from distributed import Client

from dtf.cluster.local import ensure_cluster, stop_cluster
from dtf.cluster.profiles import default_profiles
from dtf.cluster.warm_up import WARM_UP_GROUP, warm_up


def test_a_new_cluster_imports_the_shard_task_before_any_task_asks_for_it(tmp_path: Path) -> None:
    wanted = ("tasks.shards", "flows.campaign", "prefect.task_engine", "prefect_dask")

    def imported() -> dict[str, bool]:  # nested, so Dask ships it by value
        import sys

        return {name: name in sys.modules for name in wanted}

    home = tmp_path / "home"
    info = ensure_cluster(home, default_profiles(2), {})
    try:
        with Client(info.address, set_as_default=False, timeout=30) as client:
            # Nothing but this probe has run there: only the warm-up can have imported them,
            # before the scheduler listened and the workers registered. The scheduler needs
            # them too, to unpickle the first graph that holds a shard task.
            seen = [*client.run(imported).values(), client.run_on_scheduler(imported)]
        assert seen == [dict.fromkeys(wanted, True)] * 3  # both workers, then the scheduler
        logs = [(home / "cluster" / f"{name}.log").read_text()
                for name in (*info.workers, "scheduler")]  # fmt: skip
        assert not any("warm-up import" in log for log in logs)
    finally:
        stop_cluster(home)


def test_the_warm_up_names_the_shard_task_and_reports_no_failure() -> None:
    from importlib.metadata import entry_points

    registered = {e.value for e in entry_points(group=WARM_UP_GROUP)}
    assert registered == {"tasks.shards", "flows.verify_quarantine", "prefect.task_engine",
                          "prefect_dask.task_runners"}  # fmt: skip
    assert warm_up() == []
