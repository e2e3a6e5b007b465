"""Live progress of a running campaign for `dtf run`: shards per hardware, and an ETA."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from dtf.errors import StoreError
from dtf.execution.planned import read_manifest
from dtf.planning.manifest import Manifest
from dtf.planning.placement import hardware_class
from dtf.store.results import ResultStore

POLL_SECONDS = 1.0
READ_LOCK_SECONDS = 0.5  # a tick that finds the store busy is skipped, not waited out
_PART = re.compile(r"\.p\d+$")  # a split shard's parts run as task runs "<shard>.p<i>"


@dataclass(frozen=True)
class Tally:
    """Shards of one hardware class: planned, with all results, running now, with a failure."""

    planned: int = 0
    done: int = 0
    running: int = 0
    failed: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.planned + other.planned, self.done + other.done,
                     self.running + other.running, self.failed + other.failed)  # fmt: skip


@dataclass(frozen=True)
class Snapshot:
    """The whole run at one moment, per hardware class of the plan."""

    per_hardware: Mapping[str, Tally]
    eta_seconds: float | None  # None until a shard has finished

    @property
    def total(self) -> Tally:
        return sum(self.per_hardware.values(), Tally())


def tally(
    manifest: Manifest, tested: set[str], failing: set[str], running: set[str], elapsed: float
) -> Snapshot:
    """Count each planned shard under the hardware it was planned for.

    A shard is done when every test of it has a result, whatever attempts, parts or fallback
    hardware that took; failed when one of its tests' latest result fails. The ETA scales
    the time so far by the plan's estimated seconds still to run over those already run.
    """
    counts: dict[str, Tally] = {}
    work = {True: 0.0, False: 0.0}  # estimated seconds of shards done / not done
    for shard in manifest.shards:
        ids = set(shard.nodeids)
        done = ids <= tested
        work[done] += shard.estimated_seconds or float(len(ids))
        is_running = not done and shard.shard_id in running
        one = Tally(1, int(done), int(is_running), int(bool(ids & failing)))
        hardware = hardware_class(shard.needs)
        counts[hardware] = counts.get(hardware, Tally()) + one
    eta = elapsed * work[False] / work[True] if work[True] else None
    return Snapshot(counts, eta)


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "ETA estimating"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours}h{minutes:02d}m" if hours else f"ETA {minutes}m{secs:02d}s"


class ProgressBoard:
    """One row per hardware class and a total row with the ETA, on a rich Progress."""

    TOTAL = "all"

    def __init__(self, console: Console):
        self.progress = Progress(
            TextColumn("{task.description:>8}"), BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} shards"),
            TextColumn("{task.fields[running]} running"),
            TextColumn("{task.fields[failed]} failed"),
            TextColumn("{task.fields[eta]}"), console=console, transient=True,
        )  # fmt: skip
        self.rows: dict[str, TaskID] = {}

    def show(self, snapshot: Snapshot) -> None:
        for hardware, counts in sorted(snapshot.per_hardware.items()):
            self._row(hardware, counts, "")
        self._row(self.TOTAL, snapshot.total, eta_text(snapshot.eta_seconds))

    def _row(self, name: str, counts: Tally, eta: str) -> None:
        if name not in self.rows:
            # Created with its counts: an empty row would be drawn for a frame (0/100).
            self.rows[name] = self.progress.add_task(
                name, total=counts.planned, completed=counts.done, running=counts.running,
                failed=counts.failed, eta=eta,
            )  # fmt: skip
            return
        self.progress.update(self.rows[name], completed=counts.done, total=counts.planned,
                             running=counts.running, failed=counts.failed, eta=eta)  # fmt: skip


@contextmanager
def campaign_progress(
    console: Console, run_id: str, manifest: Path, store_url: str, api_url: str | None = None,
    poll: float = POLL_SECONDS,
) -> Iterator[None]:  # fmt: skip
    """Show the run's progress while the block runs (on a terminal only).

    Results come from the store; running shards from the Prefect API's task runs of the
    run's flow run (`api_url`, default $PREFECT_API_URL), when there is one.
    """
    if not console.is_terminal:
        yield
        return
    board = ProgressBoard(console)
    watcher = Watcher(board, run_id, manifest, store_url,
                      api_url or os.environ.get("PREFECT_API_URL"))  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=watcher.loop, args=(stop, poll), daemon=True)
    with board.progress:
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)


@dataclass
class Watcher:
    """Polls the plan, the store and the Prefect API, and shows what it finds."""

    board: ProgressBoard
    run_id: str
    manifest_path: Path
    store_url: str
    api_url: str | None
    plan: Manifest | None = None
    started: float = 0.0

    def loop(self, stop: threading.Event, poll: float) -> None:
        while not stop.wait(poll):
            self.tick()

    def tick(self) -> None:
        """One look; anything unreadable now (a plan half written, a busy store) waits."""
        if self.plan is None:
            self.plan = self._read_plan()
            self.started = time.monotonic()
            if self.plan is None:
                return
        seen = self._stored()
        if seen is None:
            return
        tested, failing, flow_run_id = seen
        running = self._running(flow_run_id)
        elapsed = time.monotonic() - self.started
        self.board.show(tally(self.plan, tested, failing, running, elapsed))

    def _read_plan(self) -> Manifest | None:
        try:
            return read_manifest(self.manifest_path) if self.manifest_path.exists() else None
        except (OSError, ValidationError, ValueError):
            return None  # the flow is still writing it

    def _stored(self) -> tuple[set[str], set[str], str | None] | None:
        try:
            store = ResultStore(self.store_url, upgrade=False, lock_timeout=READ_LOCK_SECONDS)
            try:
                run = store.run(self.run_id) or {}
                tested = store.tested_ids(self.run_id)
                failing = {str(r["test_id"]) for r in store.failures(self.run_id)}
            finally:
                store.close()
        except StoreError:
            return None  # the flow holds the DuckDB file for a moment; look again next tick
        return tested, failing, (str(run["flow_run_id"]) if run.get("flow_run_id") else None)

    def _running(self, flow_run_id: str | None) -> set[str]:
        """Planned shard ids with a task run in state RUNNING in the campaign's flow run."""
        if not self.api_url or not flow_run_id:
            return set()
        query = {"flow_runs": {"id": {"any_": [flow_run_id]}},
                 "task_runs": {"state": {"type": {"any_": ["RUNNING"]}}}}  # fmt: skip
        try:
            response = httpx.post(f"{self.api_url}/task_runs/filter", json=query, timeout=2)
            response.raise_for_status()
            return {_PART.sub("", str(t["name"])) for t in response.json()}
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return set()  # the display goes on without it
