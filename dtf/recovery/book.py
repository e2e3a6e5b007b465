"""The flow's bookkeeping of shard attempts, failed workers, rungs used and circuits; pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from dtf.planning.placement import fits, hardware_class
from dtf.planning.shards import Shard
from dtf.recovery.circuit import (
    HARDWARE_POLICY,
    HARDWARE_SCOPE,
    Circuit,
    CircuitPolicy,
    CircuitState,
)
from dtf.recovery.ladder import RecoveryAction, RecoveryContext, Rung
from dtf.recovery.taxonomy import Failure


@dataclass(frozen=True)
class Attempt:
    """One submission of (part of) a shard."""

    shard: Shard
    number: int
    needs: Mapping[str, float]
    part: tuple[int, int] | None = None  # (index, count) of a split shard
    only: tuple[str, ...] | None = None  # reruns: just these tests
    degraded: bool = False
    event_id: str | None = None  # the recovery event this attempt tests
    exclude: frozenset[str] = frozenset()  # workers this attempt must avoid
    prefer: str | None = None  # its batch's worker, else its worker in the estimated schedule

    @property
    def nodeids(self) -> tuple[str, ...]:
        return select_tests(self.shard.nodeids, self.only, self.part)

    @property
    def record_id(self) -> str:
        """Shard id as stored: parts of a split shard are stored separately."""
        return (
            self.shard.shard_id if self.part is None else f"{self.shard.shard_id}.p{self.part[0]}"
        )

    @property
    def hardware(self) -> str:
        return hardware_class(self.needs)

    @property
    def key(self) -> tuple[str, int]:
        return (self.record_id, self.number)


class Admission(StrEnum):
    """What an attempt's hardware-class breaker says when the attempt is about to be submitted."""

    SUBMIT = "submit"  # closed
    PROBE = "probe"  # half-open: this attempt is the one probe
    WAIT = "wait"  # half-open: another attempt is probing; wait for its outcome
    REFUSE = "refuse"  # open: not to this class (fall back or give up)


@dataclass
class RecoveryBook:
    """What the flow must remember between completions to decide the next step."""

    fleet: Mapping[str, Mapping[str, float]]
    policy: CircuitPolicy = field(default_factory=CircuitPolicy)
    circuits: dict[str, Circuit] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    failed_workers: dict[str, set[str]] = field(default_factory=dict)
    used: dict[str, dict[Rung, int]] = field(default_factory=dict)
    class_policy: CircuitPolicy = HARDWARE_POLICY
    class_circuits: dict[str, Circuit] = field(default_factory=dict)  # by hardware class
    probes: dict[str, tuple[str, int]] = field(default_factory=dict)  # class -> probing attempt
    incidents: set[str] = field(default_factory=set)  # failures already charged to a circuit

    def next_number(self, shard_id: str) -> int:
        number = self.attempts.get(shard_id, -1) + 1
        self.attempts[shard_id] = number
        return number

    def fitting_workers(self, needs: Mapping[str, float]) -> list[str]:
        return sorted(name for name, offered in self.fleet.items() if fits(needs, offered))

    def allowed_workers(self, needs: Mapping[str, float], now: float) -> list[str]:
        """Workers that fit `needs` and whose circuit lets shards through, by name; none
        while the circuit of the hardware class of `needs` is open."""
        if self.class_circuits:
            hardware = self.class_circuits.get(hardware_class(needs))
            if hardware is not None and not hardware.allows(now, self.class_policy):
                return []
        return sorted(
            name
            for name, offered in self.fleet.items()
            if fits(needs, offered) and self.circuit(name).allows(now, self.policy)
        )

    def circuit(self, worker: str) -> Circuit:
        return self.circuits.get(worker) or Circuit("worker", worker)

    def first_report(self, failure: Failure) -> bool:
        """Whether `failure` is news for the circuits: False for the second and later shards
        that report the same incident (one worker death fails every shard queued on it)."""
        if not failure.incident:
            return True
        if failure.incident in self.incidents:
            return False
        self.incidents.add(failure.incident)
        return True

    def worker_failed(self, worker: str, now: float, reason: str) -> Circuit:
        circuit = self.circuit(worker).record_failure(now, self.policy, reason)
        self.circuits[worker] = circuit
        return circuit

    def worker_succeeded(self, worker: str, now: float) -> Circuit:
        circuit = self.circuit(worker).record_success(now, self.policy)
        self.circuits[worker] = circuit
        return circuit

    def class_circuit(self, hardware: str) -> Circuit:
        return self.class_circuits.get(hardware) or Circuit(HARDWARE_SCOPE, hardware)

    def admit(self, attempt: Attempt, now: float) -> Admission:
        """Whether the attempt's hardware class takes it now; a half-open class takes one
        probe at a time and holds the other attempts until the probe's outcome is known."""
        hardware = attempt.hardware
        state = self.class_circuit(hardware).current(now, self.class_policy).state
        if state is CircuitState.CLOSED:
            return Admission.SUBMIT
        if state is CircuitState.OPEN:
            return Admission.REFUSE
        probing = self.probes.setdefault(hardware, attempt.key)
        return Admission.PROBE if probing == attempt.key else Admission.WAIT

    def end_probe(self, attempt: Attempt) -> bool:
        """Forget `attempt` as its class's probe; True when it was the probe."""
        if self.probes.get(attempt.hardware) != attempt.key:
            return False
        del self.probes[attempt.hardware]
        return True

    def class_failed(self, attempt: Attempt, worker: str, now: float, reason: str) -> Circuit:
        """An infrastructure failure of `attempt` on `worker`, charged to its hardware class."""
        members = len(self.fitting_workers(attempt.needs))
        circuit = self.class_circuit(attempt.hardware).record_failure(
            now, self.class_policy, reason, worker, members
        )
        self.class_circuits[attempt.hardware] = circuit
        return circuit

    def class_succeeded(self, attempt: Attempt, now: float) -> Circuit:
        circuit = self.class_circuit(attempt.hardware).record_success(now, self.class_policy)
        self.class_circuits[attempt.hardware] = circuit
        return circuit

    def context(
        self,
        attempt: Attempt,
        failure: Failure,
        fallbacks: tuple[Mapping[str, float], ...],
        now: float,
    ) -> RecoveryContext:
        shard_id = attempt.shard.shard_id
        failed = self.failed_workers.setdefault(shard_id, set())
        if failure.worker:
            failed.add(failure.worker)
        tests = len(attempt.only or attempt.shard.nodeids)
        return RecoveryContext(
            shard_id=shard_id,
            tests=tests if attempt.part is None else max(1, tests // attempt.part[1]),
            hardware=attempt.hardware,
            failed_workers=frozenset(failed),
            healthy_workers=frozenset(self.allowed_workers(attempt.needs, now)),
            fallbacks=tuple(f for f in fallbacks if dict(f) != dict(attempt.needs)),
            used=dict(self.used.get(shard_id, {})),
        )

    def follow_up(self, attempt: Attempt, action: RecoveryAction, event_id: str) -> list[Attempt]:
        """The attempts that carry out `action` for a failed `attempt`."""
        shard_id = attempt.shard.shard_id
        rungs = self.used.setdefault(shard_id, {})
        rungs[action.rung] = rungs.get(action.rung, 0) + 1
        if action.gives_up:
            return []
        needs = dict(action.needs) if action.needs is not None else dict(attempt.needs)
        degraded = attempt.degraded or action.needs is not None
        if action.split > 1 and attempt.part is None:
            number = self.next_number(shard_id)
            return [
                Attempt(
                    attempt.shard,
                    number,
                    needs,
                    (i, action.split),
                    attempt.only,
                    degraded,
                    event_id,
                    action.exclude_workers,
                )
                for i in range(action.split)
            ]
        number = self.next_number(shard_id)
        return [Attempt(attempt.shard, number, needs, attempt.part, attempt.only, degraded,
                        event_id, action.exclude_workers)]  # fmt: skip


def batch_homes(
    shards: Sequence[Shard], fleet: Mapping[str, Mapping[str, float]]
) -> dict[str, str]:
    """A worker for each batch key, spreading keys over the workers that fit them."""
    homes: dict[str, str] = {}
    load: dict[str, int] = dict.fromkeys(fleet, 0)
    for shard in shards:
        key = shard.batch_key
        if key is None or key in homes:
            continue
        fitting = sorted(n for n, offered in fleet.items() if fits(shard.needs, offered))
        if fitting:
            home = min(fitting, key=lambda n: (load[n], n))
            homes[key] = home
            load[home] += 1
    return homes


def select_tests(
    nodeids: tuple[str, ...], only: tuple[str, ...] | None, part: tuple[int, int] | None
) -> tuple[str, ...]:
    """The tests of a shard an attempt runs: a rerun subset, then a contiguous part of it."""
    chosen = tuple(n for n in nodeids if n in set(only)) if only is not None else nodeids
    if part is None:
        return chosen
    index, count = part
    size = -(-len(chosen) // count)  # ceiling division keeps every test in exactly one part
    return chosen[index * size : (index + 1) * size]
