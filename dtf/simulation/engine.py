"""Replays a planned workload on a simulated fleet, event by event, with dtf's recovery code.

The plan, the submission order, the lower bound and every recovery decision come from the
same functions real runs use (dtf.planning, RecoveryLadder.decide, RecoveryBook, circuits);
this module only moves a clock. Simplifications, stated so figures are read right: a
worker runs `threads` shards at once whatever its other resources; a suite starts when its
own dependencies have finished, as in real runs (`estimate_schedule` is stricter: a level of
the suite DAG starts when the whole level before it has finished); no gate fails; batch keys
are not kept together; a shard's tests take exactly their planned durations.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dtf.planning.dag import SuiteStarts
from dtf.planning.placement import hardware_class
from dtf.planning.schedule import DEFAULT_NEEDS, Worker, lower_bound, submission_order
from dtf.planning.shards import Shard
from dtf.recovery.book import Attempt, RecoveryBook
from dtf.recovery.circuit import CircuitState
from dtf.recovery.ladder import RecoveryLadder
from dtf.recovery.taxonomy import ErrorClass, Failure
from dtf.simulation.model import (
    ClassUse,
    Faults,
    Orchestration,
    OrchestrationLoad,
    RecoveryRecord,
    SimResult,
    Spread,
)
from dtf.simulation.slots import NeedsKey, SlotPool, needs_key
from dtf.simulation.workload import Workload

# Event kinds; at equal times a finish is seen before a death, a death before a return.
_FINISH, _FAIL, _UP, _READY = 0, 1, 2, 3

HORIZON = 30 * 24 * 3600.0  # simulated seconds; no campaign runs for a month


@dataclass(frozen=True)
class _Ready:
    """A submitted attempt waiting for a worker; its token names it in events."""

    token: int
    attempt: Attempt
    suite_no: int
    since: float
    avoid: frozenset[str] = frozenset()


@dataclass
class _Running:
    attempt: Attempt
    worker: int
    suite_no: int
    start: float


class Simulation:
    """One simulated campaign; `run()` returns its SimResult."""

    def __init__(
        self,
        workload: Workload,
        fleet: Sequence[Worker],
        ladder: RecoveryLadder,
        *,
        orchestration: Orchestration | None = None,
        faults: Faults | None = None,
        fallbacks: Mapping[str, tuple[Mapping[str, float], ...]] | None = None,
    ):
        self.workload, self.ladder = workload, ladder
        self.orch = orchestration or Orchestration()
        self.faults = faults or Faults()
        self.fallbacks = dict(fallbacks or {})
        self.fleet = SlotPool(fleet)
        self.index = {w.name: i for i, w in enumerate(fleet)}
        self.book = RecoveryBook({w.name: dict(w.resources) for w in fleet})
        self.rng = random.Random(self.faults.seed)
        self.events: list[tuple[float, int, int, object]] = []
        self.seq = 0
        self.submitter = 0.0  # when the flow is next free to submit
        self.queues: dict[NeedsKey, deque[_Ready]] = {}
        self.picky: list[_Ready] = []  # attempts that must avoid some workers
        self.running: dict[int, _Running] = {}
        self.on_worker: dict[int, set[int]] = {}
        # Attempts still to finish, per suite (its index in plan order).
        self.suite_index = {s: i for i, s in enumerate(s for lvl in workload.levels for s in lvl)}
        self.outstanding = [0] * len(self.suite_index)
        self.queue_delays: list[float] = []
        self.submit_delays: list[float] = []
        self.busy = [0.0] * len(fleet)
        self.task_runs = 0
        self.recoveries: list[RecoveryRecord] = []
        self.given_up: list[str] = []
        self.failures = 0
        self.tripped: set[str] = set()  # workers whose circuit has opened at least once
        self.clock = 0.0
        self.end = 0.0

    def _push(self, time: float, kind: int, payload: object) -> None:
        self.seq += 1
        heapq.heappush(self.events, (time, kind, self.seq, payload))

    def _submit(self, attempt: Attempt, suite_no: int, now: float) -> None:
        """As the flow does: only to healthy workers it may use, at most `submit_rate` a second."""
        avoid = self._avoid(attempt, now)
        if avoid is None:
            wanted = ", ".join(f"{k}={v:g}" for k, v in sorted(attempt.needs.items()))
            reason = f"no healthy worker offers {wanted}"
            failure = Failure(ErrorClass.INFRASTRUCTURE, "no_healthy_worker", reason)
            self._recover(attempt, suite_no, failure, now)
            return
        self.submitter = max(now, self.submitter) + 1.0 / self.orch.submit_rate
        self.submit_delays.append(self.submitter - now)
        self.task_runs += 1
        self._push(self.submitter, _READY, (attempt, suite_no, avoid))

    def _avoid(self, attempt: Attempt, now: float) -> frozenset[str] | None:
        """Workers this attempt must not run on (excluded, or circuit open); None: no worker
        is left. The fleet-wide scan runs only while some exclusion or open circuit exists."""
        policy = self.book.policy
        opened = any(not self.book.circuit(n).allows(now, policy) for n in self.tripped)
        if not attempt.exclude and not opened:
            return frozenset()
        allowed = [w for w in self.book.allowed_workers(attempt.needs, now)
                   if w not in attempt.exclude]  # fmt: skip
        if not allowed:
            return None
        return frozenset(self.book.fitting_workers(attempt.needs)) - set(allowed)

    def _open(self, shards: Sequence[Shard], now: float) -> None:
        for shard in submission_order(shards, self.fleet.workers):
            attempt = Attempt(shard, self.book.next_number(shard.shard_id),
                              dict(shard.needs or DEFAULT_NEEDS))  # fmt: skip
            suite_no = self.suite_index[shard.suite]
            self.outstanding[suite_no] += 1
            self._submit(attempt, suite_no, now)

    def run(self) -> SimResult:
        placeable, unplaced = self._placeable()
        self._schedule_faults()
        starts = SuiteStarts(self.workload.levels, self.workload.depends_on)
        running: set[str] = set()
        ready = set(starts.ready())
        while True:
            if ready:
                self._open([s for s in placeable if s.suite in ready], self.clock)
                running |= ready
            done = [s for s in running if self.outstanding[self.suite_index[s]] == 0]
            for suite in done:
                starts.finish(suite)
                running.discard(suite)
            ready = set(starts.ready()) if done else set()
            if done:
                continue  # ready holds their dependents that may start now
            # Injected faults keep scheduling deaths forever: a campaign that can no longer
            # finish (say, every worker excluded) must still end the simulation.
            if not running or not self.events or self.clock > HORIZON:
                break
            self._step()
        work = self.workload
        bound = lower_bound(
            placeable, levels=work.levels, depends_on=work.depends_on, fleet=self.fleet.workers
        )
        return self._result(bound.seconds, unplaced)

    def _placeable(self) -> tuple[list[Shard], tuple[str, ...]]:
        ok: list[Shard] = []
        bad: list[Shard] = []
        for shard in self.workload.shards:
            fits_any = bool(self.fleet.fitting_groups(needs_key(shard.needs)))
            (ok if fits_any and shard.suite in self.suite_index else bad).append(shard)
        return ok, tuple(s.shard_id for s in bad)

    def _schedule_faults(self) -> None:
        for at, name in self.faults.at:
            self._push(at, _FAIL, self.index[name])
        if self.faults.rate_per_worker_hour > 0:
            for worker in range(len(self.fleet.workers)):
                self._next_random_fault(worker, 0.0)

    def _next_random_fault(self, worker: int, now: float) -> None:
        if self.faults.rate_per_worker_hour > 0:
            gap = self.rng.expovariate(self.faults.rate_per_worker_hour / 3600.0)
            self._push(now + gap, _FAIL, worker)

    def _step(self) -> None:
        """Handle every event at the next instant, then place what can be placed."""
        now = self.events[0][0]
        self.clock = now
        while self.events and self.events[0][0] == now:
            _, kind, _, payload = heapq.heappop(self.events)
            if kind == _FINISH:
                self._finished(payload, now)  # type: ignore[arg-type]
            elif kind == _FAIL:
                self._worker_died(payload, now)  # type: ignore[arg-type]
            elif kind == _UP:
                self.fleet.revive(payload)  # type: ignore[arg-type]
                self._next_random_fault(payload, now)  # type: ignore[arg-type]
            else:
                attempt, suite_no, avoid = payload  # type: ignore[misc]
                self._ready(attempt, suite_no, avoid, now)  # type: ignore[has-type]
        self._place(now)

    def _ready(self, attempt: Attempt, suite_no: int, avoid: frozenset[str], now: float) -> None:
        self.seq += 1
        ready = _Ready(self.seq, attempt, suite_no, now, avoid)
        if avoid:
            self.picky.append(ready)
        else:
            self.queues.setdefault(needs_key(attempt.needs), deque()).append(ready)

    def _place(self, now: float) -> None:
        for ready in list(self.picky):
            if self._start(ready, now):
                self.picky.remove(ready)
        for queue in self.queues.values():
            while queue and self._start(queue[0], now):
                queue.popleft()

    def _start(self, ready: _Ready, now: float) -> bool:
        attempt = ready.attempt
        worker = self.fleet.take(needs_key(attempt.needs), ready.avoid)
        if worker is None:
            return False
        token = ready.token
        self.queue_delays.append(now - ready.since)
        seconds = self._seconds(attempt) + self.orch.task_overhead
        self.running[token] = _Running(attempt, worker, ready.suite_no, now)
        self.on_worker.setdefault(worker, set()).add(token)
        self._push(now + seconds, _FINISH, token)
        return True

    def _seconds(self, attempt: Attempt) -> float:
        shard = attempt.shard
        if attempt.part is None and attempt.only is None:
            return shard.estimated_seconds
        return shard.estimated_seconds * len(attempt.nodeids) / max(1, len(shard.nodeids))

    def _finished(self, token: int, now: float) -> None:
        run = self.running.pop(token, None)
        if run is None:
            return  # its worker died first: the attempt was already recovered
        self.on_worker[run.worker].discard(token)
        self.busy[run.worker] += now - run.start
        self.fleet.give_back(run.worker)
        self.book.worker_succeeded(self.fleet.workers[run.worker].name, now)
        self.outstanding[run.suite_no] -= 1
        self.end = max(self.end, now)

    def _worker_died(self, worker: int, now: float) -> None:
        if not self.fleet.up[worker]:
            return
        self.failures += 1
        self.fleet.up[worker] = False
        name = self.fleet.workers[worker].name
        back = now + self.faults.restart_seconds
        for token in sorted(self.on_worker.pop(worker, set())):
            run = self.running.pop(token)
            self.busy[worker] += now - run.start
            self.fleet.slots[worker] += 1
            lost = Failure(ErrorClass.INFRASTRUCTURE, "worker_lost", f"worker {name} lost", name)
            self._recover(run.attempt, run.suite_no, lost, now)
        circuit = self.book.circuit(name)
        if circuit.state is CircuitState.OPEN and circuit.opened_at is not None:
            # Placement respects the open circuit: the worker gets nothing until its probe.
            back = max(back, circuit.opened_at + self.book.policy.cooldown)
        self._push(back, _UP, worker)

    def _recover(self, attempt: Attempt, suite_no: int, failure: Failure, now: float) -> None:
        """Exactly the flow's steps (flows/shard_runs.py `_recover`), minus the store."""
        if failure.worker:
            circuit = self.book.worker_failed(failure.worker, now, failure.message)
            if circuit.state is CircuitState.OPEN:
                self.tripped.add(failure.worker)
        fallbacks = tuple(self.fallbacks.get(attempt.shard.suite, ()))
        context = self.book.context(attempt, failure, fallbacks, now)
        action = self.ladder.decide(failure, context)
        event_id = f"{attempt.record_id}/{attempt.number}"
        follow_ups = self.book.follow_up(attempt, action, event_id)
        self.recoveries.append(RecoveryRecord(now, attempt.record_id, attempt.number,
                                              failure.worker, action.strategy,
                                              int(action.rung)))  # fmt: skip
        if action.gives_up:
            self.given_up.append(attempt.record_id)
        placeable = [f for f in follow_ups if self.fleet.fitting_groups(needs_key(f.needs))]
        self.given_up += [f.record_id for f in follow_ups if f not in placeable]
        self.outstanding[suite_no] += len(placeable) - 1
        for follow_up in placeable:
            self._submit(follow_up, suite_no, now)

    def _result(self, bound: float, unplaced: tuple[str, ...]) -> SimResult:
        makespan = self.end
        return SimResult(
            tests=self.workload.tests,
            shards=len(self.workload.shards),
            workers=len(self.fleet.workers),
            target_seconds=self.workload.target_seconds,
            makespan=makespan,
            lower_bound=bound,
            utilization=self._utilization(makespan),
            queue_delay=Spread.of(self.queue_delays),
            submit_delay=Spread.of(self.submit_delays),
            orchestration=self._load(makespan),
            recoveries=tuple(self.recoveries),
            given_up=tuple(self.given_up),
            unplaced=unplaced,
            worker_failures=self.failures,
        )

    def _utilization(self, makespan: float) -> dict[str, ClassUse]:
        workers: dict[str, list[int]] = {}
        for i, worker in enumerate(self.fleet.workers):
            workers.setdefault(hardware_class(worker.resources), []).append(i)
        out = {}
        for label, members in sorted(workers.items()):
            slots = sum(self.fleet.workers[i].threads for i in members)
            busy = sum(self.busy[i] for i in members)
            use = busy / (slots * makespan) if makespan > 0 and slots else 0.0
            out[label] = ClassUse(len(members), slots, round(busy, 3), round(use, 4))
        return out

    def _load(self, makespan: float) -> OrchestrationLoad:
        busy = sum(self.busy)
        runs = self.task_runs
        slots = sum(w.threads for w in self.fleet.workers)
        mean_length = busy / runs if runs else 0.0
        demand = slots / mean_length if mean_length > 0 else 0.0
        return OrchestrationLoad(
            task_runs=runs,
            mean_rate=runs / makespan if makespan > 0 else 0.0,
            demand_rate=demand,
            capacity=self.orch.submit_rate,
            submitting_seconds=runs / self.orch.submit_rate,
            overhead_share=runs * self.orch.task_overhead / busy if busy > 0 else 0.0,
            bound=demand > self.orch.submit_rate,
        )


def simulate(
    workload: Workload,
    fleet: Sequence[Worker],
    ladder: RecoveryLadder,
    *,
    orchestration: Orchestration | None = None,
    faults: Faults | None = None,
    fallbacks: Mapping[str, tuple[Mapping[str, float], ...]] | None = None,
) -> SimResult:
    """Replay `workload` on `fleet`; deterministic for a given fault seed."""
    return Simulation(workload, fleet, ladder, orchestration=orchestration, faults=faults,
                      fallbacks=fallbacks).run()  # fmt: skip
