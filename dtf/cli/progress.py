"""Live progress of a running campaign for `dtf run`: shards done per hardware, and an ETA."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from dtf.errors import StoreError
from dtf.execution.planned import read_manifest
from dtf.planning.placement import hardware_class
from dtf.store.results import ResultStore

POLL_SECONDS = 1.0


@contextmanager
def campaign_progress(
    console: Console, run_id: str, manifest: Path, store_url: str
) -> Iterator[None]:
    """Show shards stored so far per hardware class while the block runs (a TTY only)."""
    if not console.is_terminal:
        yield
        return
    stop = threading.Event()
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed:.0f}/{task.total:.0f} shards"),
                  TimeRemainingColumn(), console=console, transient=True) as bar:  # fmt: skip
        watcher = threading.Thread(target=_watch, args=(bar, run_id, manifest, store_url, stop),
                                   daemon=True)  # fmt: skip
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join(timeout=5)


def _watch(bar: Progress, run_id: str, manifest: Path, url: str, stop: threading.Event) -> None:
    tasks: dict[str, TaskID] = {}
    while not stop.wait(POLL_SECONDS):
        if not manifest.exists():
            continue  # still discovering and planning
        planned = Counter(hardware_class(s.needs) for s in read_manifest(manifest).shards)
        for hardware, total in planned.items():
            if hardware not in tasks:
                tasks[hardware] = bar.add_task(f"{run_id} {hardware}", total=total)
        for hardware, done in _stored(run_id, url).items():
            if hardware in tasks:
                bar.update(tasks[hardware], completed=min(done, planned[hardware]))


def _stored(run_id: str, url: str) -> Counter[str]:
    """Shards with results so far, per hardware class (first attempts of planned shards)."""
    try:
        store = ResultStore(url, upgrade=False)
        try:
            rows = store.shards_of(run_id)
        finally:
            store.close()
    except StoreError:
        return Counter()  # the flow holds the DuckDB file for a moment; look again next tick
    seen = {(r["shard_id"].split(".p")[0], r["hardware"]) for r in rows if r["attempt"] == 0}
    return Counter(hardware or "cpu" for _, hardware in seen)
