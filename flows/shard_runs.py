"""Runs suites' shards on Dask: submits attempts, stores results, reruns failures, recovers."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import dask
from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture, as_completed

from dtf.execution.outcomes import FAILING_OUTCOMES, CaseResult, ShardOutcome
from dtf.planning.manifest import Manifest
from dtf.planning.schedule import Worker, planned_workers, submission_order
from dtf.recovery.book import Admission, Attempt, RecoveryBook, batch_homes
from dtf.recovery.circuit import HARDWARE_SCOPE, WORKER_SCOPE
from dtf.recovery.ladder import RecoveryAction, RecoveryLadder
from dtf.recovery.registry import default_ladder
from dtf.recovery.taxonomy import ErrorClass, Failure, classify_exception
from dtf.spec.models import Campaign
from dtf.store import recovery as recovery_store
from dtf.store.results import ResultStore, ShardRecord
from flows.dask_client import fleet_now
from tasks.shards import run_shard_task

RERUN_OUTCOMES = frozenset({"failed", "error"})


@flow(name="recover-shard", flow_run_name="recover-{shard}-{strategy}")
def recovery_step(
    run_id: str, shard: str, strategy: str, rung: int, reason: str, failure: dict[str, str],
    store_url: str,
) -> str:  # fmt: skip
    """One escalation, visible in the Prefect UI: what failed and which rung answers it."""
    logger = get_run_logger()
    logger.warning("shard %s: %s (%s) -> rung %d %s: %s", shard, failure["kind"],
                   failure["message"][:300], rung, strategy, reason)  # fmt: skip
    return reason


class ShardExecutor:
    """Drives every attempt of the submitted suites' shards until each has results or is
    given up, and says when a suite has nothing left."""

    def __init__(
        self,
        manifest: Manifest,
        manifest_path: str,
        store: ResultStore,
        book: RecoveryBook,
        ladder: RecoveryLadder,
        *,
        fallbacks: Mapping[str, tuple[Mapping[str, float], ...]],
        reruns: Mapping[str, int],
        threads: Mapping[str, int] | None = None,
    ):
        self.manifest, self.manifest_path, self.store = manifest, manifest_path, store
        self.book, self.ladder, self.fallbacks, self.reruns = book, ladder, fallbacks, reruns
        self.threads = dict(threads or {})  # worker -> Dask threads (1 when unknown)
        self.pending: dict[PrefectFuture[ShardOutcome], Attempt] = {}
        self.lost: list[str] = []
        self.failing: dict[str, tuple[int, str]] = {}  # test -> (attempt, first failure line)
        self.reruns_done: dict[str, int] = {}
        self.failed_suites: set[str] = set()
        self.waiting: list[Attempt] = []  # held while their hardware class is probed
        self.open: dict[str, None] = {}  # suites submitted, not yet reported done

    def run(self, suites: list[str], repeat: int = 1) -> None:
        """Run the suites' shards, each `repeat` times (attempts 0..repeat-1), to the end."""
        self.submit(suites, repeat=repeat)
        while self.wait_suites():
            pass

    def submit(self, suites: list[str], repeat: int = 1) -> None:
        """Submit the suites' shards, each `repeat` times. With nothing else running, each
        prefers its worker in the estimated schedule, which assumes idle workers; otherwise
        Dask's own placement, which sees what runs, decides."""
        idle = not self.pending and not self.waiting
        self.open.update(dict.fromkeys(suites))
        shards = [s for s in self.manifest.shards if s.suite in suites]
        fleet = [Worker(name, res, max(1, self.threads.get(name, 1)))
                 for name, res in sorted(self.book.fleet.items())]  # fmt: skip
        homes = batch_homes(shards, self.book.fleet)
        # The estimate plans one pass; repeated passes are left to Dask's own placement.
        planned = planned_workers(shards, fleet) if repeat == 1 and idle else {}
        for _ in range(repeat):
            for shard in submission_order(shards, fleet):
                number = self.book.next_number(shard.shard_id)
                prefer = (homes.get(shard.batch_key) if shard.batch_key
                          else planned.get(shard.shard_id))  # fmt: skip
                self._submit(Attempt(shard, number, dict(shard.needs), prefer=prefer))

    def wait_suites(self) -> list[str]:
        """Drive attempts until some submitted suites have none left (every shard stored or
        given up, reruns and recoveries included); return those suites, in submission order.
        An empty list: nothing submitted is outstanding."""
        while True:
            busy = {a.shard.suite for a in (*self.pending.values(), *self.waiting)}
            done = [s for s in self.open if s not in busy]
            if done or not self.open:
                for suite in done:
                    del self.open[suite]
                return done
            self._step()

    def _step(self) -> None:
        if not self.pending:
            self._resubmit_waiting()  # defensive: nothing left to wait for
            return
        future = next(as_completed(list(self.pending)))
        attempt = self.pending.pop(future)
        try:
            outcome = future.result()
        except Exception as exc:  # a shard raises only for infrastructure faults
            self._recover(attempt, classify_exception(exc))
            return
        finally:
            _release(future)
        self._completed(attempt, outcome)

    def save_circuits(self) -> None:
        recovery_store.save_circuits(
            self.store, [*self.book.circuits.values(), *self.book.class_circuits.values()]
        )

    def _submit(self, attempt: Attempt) -> None:
        now = time.time()
        admission = self.book.admit(attempt, now)
        if admission is Admission.WAIT:
            self.waiting.append(attempt)
            return
        if admission is Admission.REFUSE:
            circuit = self.book.class_circuit(attempt.hardware)
            reason = f"hardware circuit '{attempt.hardware}' is open: {circuit.reason[:300]}"
            self._recover(attempt, Failure(ErrorClass.INFRASTRUCTURE, "circuit_open", reason))
            return
        allowed = [w for w in self.book.allowed_workers(attempt.needs, now)
                   if w not in attempt.exclude]  # fmt: skip
        if not allowed:
            wanted = ", ".join(f"{k}={v:g}" for k, v in sorted(attempt.needs.items()))
            reason = f"no healthy worker offers {wanted}"
            self._recover(attempt, Failure(ErrorClass.INFRASTRUCTURE, "no_healthy_worker", reason))
            return
        restrict: dict[str, Any] = {}
        fitting = self.book.fitting_workers(attempt.needs)
        if len(allowed) < len(fitting):
            restrict = {"workers": allowed, "allow_other_workers": False}
        elif attempt.prefer in allowed and len(fitting) == len(self.book.fleet):
            # Shards of one batch (say, one model) prefer the same worker, which keeps its
            # caches warm; others prefer their worker in the estimated schedule. Either way
            # Dask may still move them if that worker falls behind. Only where every worker
            # fits: Dask moves a loosely restricted task to any worker, resources or not
            # (distributed 2026.8, stealing._get_thief and decide_worker), and a worker
            # without the resource dies of a KeyError.
            restrict = {"workers": [attempt.prefer], "allow_other_workers": True}
        only = list(attempt.only) if attempt.only is not None else None
        with dask.annotate(resources=dict(attempt.needs), priority=attempt.shard.priority,
                           **restrict):  # fmt: skip
            future = run_shard_task.with_options(task_run_name=attempt.record_id).submit(
                self.manifest_path, attempt.shard.shard_id, only=only, part=attempt.part,
                needs=dict(attempt.needs),
            )  # fmt: skip
        self.pending[future] = attempt

    def _completed(self, attempt: Attempt, outcome: ShardOutcome) -> None:
        now = time.time()
        self.book.worker_succeeded(outcome.worker, now)
        self.book.class_succeeded(attempt, now)
        self._probe_done(attempt)
        if attempt.event_id:
            recovery_store.settle_event(self.store, attempt.event_id, "recovered")
        outcome = self._mark_flaky(attempt, outcome)
        status = "degraded" if attempt.degraded else "done"
        self.store.write_shard(self._record(attempt), outcome, status=status)
        failing = [r for r in outcome.results if r.outcome in RERUN_OUTCOMES]
        for result in failing:
            first = (result.message.strip().splitlines() or [""])[-1][:200]
            self.failing.setdefault(result.nodeid, (attempt.number, first))
        done = self.reruns_done.get(attempt.shard.shard_id, 0)
        if failing and done < self.reruns.get(attempt.shard.suite, 0):
            self.reruns_done[attempt.shard.shard_id] = done + 1
            self._rerun(attempt, outcome, tuple(r.nodeid for r in failing))
        elif any(r.outcome in FAILING_OUTCOMES for r in outcome.results):
            self.failed_suites.add(attempt.shard.suite)

    def _rerun(self, attempt: Attempt, outcome: ShardOutcome, tests: tuple[str, ...]) -> None:
        others = [w for w in self.book.allowed_workers(attempt.needs, time.time())
                  if w != outcome.worker]  # fmt: skip
        exclude = frozenset({outcome.worker}) if others else frozenset()
        number = self.book.next_number(attempt.shard.shard_id)
        rerun = dataclasses.replace(attempt, number=number, only=tests, part=None, event_id=None,
                                    exclude=exclude)  # fmt: skip
        self._submit(rerun)

    def _mark_flaky(self, attempt: Attempt, outcome: ShardOutcome) -> ShardOutcome:
        if attempt.only is None:
            return outcome
        marked = [
            dataclasses.replace(r, outcome="flaky", message=(
                f"flaky: failed on attempt {self.failing[r.nodeid][0]} "
                f"({self.failing[r.nodeid][1]}), passed on attempt {attempt.number} "
                f"on {outcome.worker}"))
            if r.outcome == "passed" and r.nodeid in self.failing else r
            for r in outcome.results
        ]  # fmt: skip
        return dataclasses.replace(outcome, results=marked)

    def _probe_done(self, attempt: Attempt) -> None:
        """After a class's probe: the attempts it held go again (closed: run; open: recover)."""
        if self.book.end_probe(attempt):
            self._resubmit_waiting()

    def _resubmit_waiting(self) -> None:
        held, self.waiting = self.waiting, []
        for attempt in held:
            self._submit(attempt)

    def _recover(self, attempt: Attempt, failure: Failure) -> None:
        now = time.time()
        if failure.worker and self.book.first_report(failure):
            reason = failure.message[:500]
            circuit = self.book.worker_failed(failure.worker, now, reason)
            hardware = self.book.class_failed(attempt, failure.worker, now, reason)
            recovery_store.save_circuits(self.store, [circuit, hardware])
        if attempt.event_id:
            recovery_store.settle_event(self.store, attempt.event_id, "failed")
        fallbacks = tuple(self.fallbacks.get(attempt.shard.suite, ()))
        context = self.book.context(attempt, failure, fallbacks, now)
        history = recovery_store.strategy_history(self.store, failure.kind, attempt.hardware)
        action = self.ladder.decide(failure, context, history)
        event_id = f"{self.manifest.run_id}/{attempt.record_id}/{attempt.number}"
        self._record_event(attempt, failure, action, event_id)
        follow_ups = self.book.follow_up(attempt, action, event_id)
        if action.gives_up:
            self._give_up(attempt, action)
        for follow_up in follow_ups:
            self._submit(follow_up)
        self._probe_done(attempt)

    def _record_event(
        self, attempt: Attempt, failure: Failure, action: RecoveryAction, event_id: str
    ) -> None:
        recovery_store.record_event(
            self.store, event_id=event_id, run_id=self.manifest.run_id,
            shard_id=attempt.record_id, attempt=attempt.number, worker=failure.worker,
            hardware=attempt.hardware, error_class=failure.kind, rung=int(action.rung),
            strategy=action.strategy, outcome="escalated" if action.gives_up else "pending",
            message=f"{failure.message[:2000]} -> {action.reason[:500]}",
        )  # fmt: skip
        recovery_step(
            self.manifest.run_id, attempt.record_id, action.strategy, int(action.rung),
            action.reason, {"kind": failure.kind, "message": failure.message,
                            "worker": failure.worker}, self.store.url,
        )  # fmt: skip

    def _give_up(self, attempt: Attempt, action: RecoveryAction) -> None:
        self.lost.append(attempt.record_id)
        self.failed_suites.add(attempt.shard.suite)
        message = f"not run: infrastructure fault, recovery gave up ({action.reason})"
        results = [CaseResult(n, "error", message=message) for n in attempt.nodeids]
        outcome = ShardOutcome(attempt.record_id, results=results, hardware=attempt.hardware)
        self.store.write_shard(self._record(attempt), outcome, status="infra_failed")

    def _record(self, attempt: Attempt) -> ShardRecord:
        shard = attempt.shard
        return ShardRecord(self.manifest.run_id, attempt.record_id, shard.suite, attempt.number,
                           dict(attempt.needs), len(attempt.nodeids),
                           shard.estimated_seconds)  # fmt: skip


def shard_executor(
    manifest: Manifest,
    manifest_path: str,
    store: ResultStore,
    spec: Campaign,
    address: str,
    *,
    reruns: bool = True,
) -> ShardExecutor:
    """An executor over the live fleet, with the breakers (per worker and per hardware
    class) the store remembers; `reruns=False` never re-runs failed tests."""
    live = fleet_now(address)
    fleet = {w.name: w.resources for w in live}
    book = RecoveryBook(
        fleet=fleet,
        circuits=recovery_store.load_circuits(store, WORKER_SCOPE),
        class_circuits=recovery_store.load_circuits(store, HARDWARE_SCOPE),
    )
    return ShardExecutor(
        manifest, manifest_path, store, book, default_ladder(),
        fallbacks={s.name: s.fallbacks for s in spec.suites},
        reruns={s.name: (s.reruns if s.reruns is not None else spec.defaults.reruns)
                if reruns else 0 for s in spec.suites},
        threads={w.name: w.nthreads for w in live},
    )  # fmt: skip


def _release(future: PrefectFuture[ShardOutcome]) -> None:
    """Drop Dask's hold on a finished shard, so a later worker death does not re-run it."""
    wrapped = getattr(future, "wrapped_future", None)
    release = getattr(wrapped, "release", None)
    if callable(release):
        release()
