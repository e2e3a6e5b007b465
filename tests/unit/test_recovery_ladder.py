"""Decision tables for the recovery ladder, its strategies and the flow's bookkeeping."""

from __future__ import annotations

import pytest

from dtf.errors import InfrastructureError, SpecError
from dtf.planning.shards import Shard
from dtf.recovery.book import Admission, Attempt, RecoveryBook, select_tests
from dtf.recovery.circuit import CircuitState
from dtf.recovery.ladder import RecoveryContext, RecoveryLadder, Rung, SuccessRate
from dtf.recovery.registry import default_ladder
from dtf.recovery.taxonomy import ErrorClass, Failure, classify_exception

LOST = Failure(ErrorClass.INFRASTRUCTURE, "worker_lost", "KilledWorker", "w0")
HARNESS = Failure(ErrorClass.INFRASTRUCTURE, "harness", "scratch volume missing", "w0")
CONFIG = Failure(ErrorClass.CONFIGURATION, "configuration", "bad campaign")


def _context(**overrides: object) -> RecoveryContext:
    values: dict[str, object] = {
        "shard_id": "s-000", "tests": 10, "hardware": "cpu", "failed_workers": frozenset({"w0"}),
        "healthy_workers": frozenset({"w0", "w1"}), "fallbacks": (), "used": {},
    }  # fmt: skip
    values.update(overrides)
    return RecoveryContext(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ladder() -> RecoveryLadder:
    return default_ladder()


def test_built_in_strategies_load_from_entry_points_in_rung_order(ladder: RecoveryLadder) -> None:
    assert [s.name for s in ladder.strategies] == [
        "retry",
        "move",
        "isolate",
        "fallback",
        "give_up",
    ]


@pytest.mark.parametrize(
    ("used", "context", "expected"),
    [
        ({}, {}, "retry"),
        ({Rung.RETRY: 1}, {}, "move"),
        ({Rung.RETRY: 1, Rung.MOVE: 2}, {}, "isolate"),
        (
            {Rung.RETRY: 1, Rung.MOVE: 2, Rung.ISOLATE: 1},
            {"fallbacks": ({"cpu": 1.0},)},
            "fallback",
        ),
        ({Rung.RETRY: 1, Rung.MOVE: 2, Rung.ISOLATE: 1}, {}, "give_up"),
        # The only worker that fits just died: no retry there, no move; split elsewhere is moot.
        ({}, {"healthy_workers": frozenset({"w0"})}, "isolate"),
        ({}, {"healthy_workers": frozenset(), "fallbacks": ({"cpu": 1.0},)}, "fallback"),
        ({}, {"healthy_workers": frozenset()}, "give_up"),
        ({Rung.RETRY: 1}, {"tests": 1, "healthy_workers": frozenset({"w0"})}, "give_up"),
    ],
)
def test_the_ladder_climbs_one_rung_at_a_time(
    ladder: RecoveryLadder, used: dict[Rung, int], context: dict[str, object], expected: str
) -> None:
    action = ladder.decide(LOST, _context(used=used, **context))
    assert action.strategy == expected


def test_move_excludes_the_failed_workers(ladder: RecoveryLadder) -> None:
    action = ladder.decide(LOST, _context(used={Rung.RETRY: 1}))
    assert action.rung is Rung.MOVE and action.exclude_workers == {"w0"}


def test_configuration_faults_never_climb_they_give_up_at_once(ladder: RecoveryLadder) -> None:
    action = ladder.decide(CONFIG, _context())
    assert action.gives_up and "not recoverable" in action.reason


def test_history_reorders_the_rungs_that_have_proven_themselves(ladder: RecoveryLadder) -> None:
    history = {"retry": SuccessRate(0, 10), "move": SuccessRate(9, 10)}
    assert ladder.decide(HARNESS, _context(), history).strategy == "move"
    too_little = {"retry": SuccessRate(0, 2), "move": SuccessRate(2, 2)}
    assert ladder.decide(HARNESS, _context(), too_little).strategy == "retry"


def test_a_ladder_without_a_give_up_rung_is_refused() -> None:
    with pytest.raises(ValueError, match="give-up"):
        RecoveryLadder([s for s in default_ladder().strategies if s.rung is not Rung.GIVE_UP])


def _killed_worker() -> BaseException:
    """Dask's own exception for a task whose worker died, as the flow receives it."""
    from distributed.core import Status
    from distributed.scheduler import KilledWorker, WorkerState

    state = WorkerState(address="tcp://127.0.0.1:1", status=Status.closed, pid=1,
                        name="dtf-worker-1", memory_limit=0, local_directory="/tmp",
                        nanny=None, server_id="s")  # fmt: skip
    return KilledWorker("shard-task", state, 0)


@pytest.mark.parametrize(
    ("exc", "error_class", "kind", "worker"),
    [
        (
            _killed_worker(),
            ErrorClass.INFRASTRUCTURE,
            "worker_lost",
            "dtf-worker-1",
        ),
        (InfrastructureError("x", "harness", "w3"), ErrorClass.INFRASTRUCTURE, "harness", "w3"),
        (ConnectionResetError("peer"), ErrorClass.INFRASTRUCTURE, "transient", ""),
        (SpecError("c.yaml", "bad"), ErrorClass.CONFIGURATION, "configuration", ""),
        (RuntimeError("??"), ErrorClass.INFRASTRUCTURE, "unexpected", ""),
    ],
)
def test_exceptions_are_classified(
    exc: BaseException, error_class: ErrorClass, kind: str, worker: str
) -> None:
    failure = classify_exception(exc)
    assert (failure.error_class, failure.kind, failure.worker) == (error_class, kind, worker)


def test_one_worker_death_is_one_incident_however_many_shards_it_failed() -> None:
    first, second = classify_exception(_killed_worker()), classify_exception(_killed_worker())
    assert first.incident == second.incident == "worker_lost:tcp://127.0.0.1:1#1"
    book = RecoveryBook(fleet={"dtf-worker-1": {"cpu": 1}})
    assert book.first_report(first) and not book.first_report(second)
    # the nanny's replacement is a new process (same address if the port is fixed): a new incident
    restarted = Failure(ErrorClass.INFRASTRUCTURE, "worker_lost", "KilledWorker",
                        "dtf-worker-1", "worker_lost:tcp://127.0.0.1:1#2")  # fmt: skip
    assert book.first_report(restarted)
    assert book.first_report(LOST) and book.first_report(LOST)  # no incident: each counts


def test_infrastructure_errors_keep_their_fields_through_pickling() -> None:
    import pickle

    copy = pickle.loads(pickle.dumps(InfrastructureError("boom", "harness", "w9")))
    assert (str(copy), copy.error_class, copy.worker) == ("boom", "harness", "w9")


SHARD = Shard("s-000", "s", tuple(f"t{i}" for i in range(5)), {"cpu": 1.0})


def test_split_parts_cover_every_test_exactly_once() -> None:
    parts = [select_tests(SHARD.nodeids, None, (i, 2)) for i in range(2)]
    assert parts == [("t0", "t1", "t2"), ("t3", "t4")]
    assert select_tests(SHARD.nodeids, ("t4", "t1"), None) == ("t1", "t4")


def test_the_book_turns_a_split_action_into_numbered_parts() -> None:
    book = RecoveryBook(fleet={"w0": {"cpu": 1.0}, "w1": {"cpu": 1.0}})
    first = Attempt(SHARD, book.next_number("s-000"), {"cpu": 1.0})
    action = default_ladder().decide(
        LOST, _context(used={Rung.RETRY: 1, Rung.MOVE: 2}, healthy_workers=frozenset({"w1"}))
    )
    parts = book.follow_up(first, action, "event-1")
    assert [(p.number, p.record_id, p.nodeids) for p in parts] == [
        (1, "s-000.p0", ("t0", "t1", "t2")),
        (1, "s-000.p1", ("t3", "t4")),
    ]


def test_an_open_circuit_takes_its_worker_out_of_placement() -> None:
    book = RecoveryBook(fleet={"w0": {"cpu": 1.0}, "w1": {"cpu": 1.0, "cuda": 1.0}})
    for t in (1.0, 2.0, 3.0):
        book.worker_failed("w1", t, "harness")
    assert book.allowed_workers({"cpu": 1.0}, 4.0) == ["w0"]
    assert book.allowed_workers({"cuda": 1.0}, 4.0) == []
    assert book.fitting_workers({"cuda": 1.0}) == ["w1"]


CUDA = Shard("g-000", "g", ("t0", "t1"), {"cuda": 1.0})
FLEET = {"w0": {"cpu": 1.0}, "g0": {"cuda": 1.0}, "g1": {"cuda": 1.0}}


def _open_cuda_class(book: RecoveryBook, until: float = 3.0) -> None:
    attempt = Attempt(CUDA, 0, {"cuda": 1.0})
    for t, worker in ((1.0, "g0"), (2.0, "g1"), (until, "g0")):
        book.class_failed(attempt, worker, t, "driver gone")


def test_a_class_opens_when_all_its_workers_failed_and_then_refuses_its_shards() -> None:
    book = RecoveryBook(fleet=FLEET)
    attempt = Attempt(CUDA, 0, {"cuda": 1.0})
    for t in (1.0, 2.0, 3.0):  # one broken worker: only its own breaker's business
        book.class_failed(attempt, "g0", t, "driver gone")
    assert book.admit(attempt, 4.0) is Admission.SUBMIT
    _open_cuda_class(book, until=5.0)
    assert book.class_circuit("cuda").state is CircuitState.OPEN
    assert book.admit(attempt, 6.0) is Admission.REFUSE
    assert book.allowed_workers({"cuda": 1.0}, 6.0) == []
    assert book.allowed_workers({"cpu": 1.0}, 6.0) == ["w0"]  # other classes unaffected


@pytest.mark.parametrize(
    ("fallbacks", "strategy", "reason"),
    [
        (({"cpu": 1.0},), "fallback", "fall back to {'cpu': 1.0}"),
        ((), "give_up", "no healthy worker and no fallback hardware"),
    ],
)
def test_an_open_class_sends_shards_to_the_fallback_rung_or_gives_up_naming_it(
    ladder: RecoveryLadder, fallbacks: tuple[dict[str, float], ...], strategy: str, reason: str
) -> None:
    book = RecoveryBook(fleet=FLEET)
    _open_cuda_class(book)
    attempt = Attempt(CUDA, 0, {"cuda": 1.0})
    refused = Failure(ErrorClass.INFRASTRUCTURE, "circuit_open",
                      "hardware circuit 'cuda' is open: driver gone")  # fmt: skip
    action = ladder.decide(refused, book.context(attempt, refused, fallbacks, 4.0))
    assert action.strategy == strategy and reason in action.reason
    if action.gives_up:
        assert "hardware circuit 'cuda' is open" in action.reason


def test_a_half_open_class_admits_one_probe_and_its_success_closes_it() -> None:
    book = RecoveryBook(fleet=FLEET)
    _open_cuda_class(book)
    after = 3.0 + book.class_policy.cooldown
    probe, other = Attempt(CUDA, 1, {"cuda": 1.0}), Attempt(CUDA, 2, {"cuda": 1.0})
    assert [book.admit(a, after) for a in (probe, other, probe)] == [
        Admission.PROBE,
        Admission.WAIT,
        Admission.PROBE,  # asking again (say, resubmitted) keeps its probe slot
    ]
    assert not book.end_probe(other) and book.end_probe(probe)
    book.class_succeeded(probe, after + 1)
    assert book.admit(other, after + 1) is Admission.SUBMIT


def test_a_failed_probe_opens_the_class_again() -> None:
    book = RecoveryBook(fleet=FLEET)
    _open_cuda_class(book)
    after = 3.0 + book.class_policy.cooldown
    probe = Attempt(CUDA, 1, {"cuda": 1.0})
    assert book.admit(probe, after) is Admission.PROBE
    book.class_failed(probe, "g1", after + 1, "still broken")
    assert book.end_probe(probe)
    assert book.admit(Attempt(CUDA, 2, {"cuda": 1.0}), after + 2) is Admission.REFUSE
