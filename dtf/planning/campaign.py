"""Turns a campaign spec and its collected tests into a Manifest; pure, deterministic."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dtf.errors import PlanError
from dtf.planning.dag import suite_levels
from dtf.planning.manifest import Manifest, SuitePlan
from dtf.planning.placement import hardware_class, parallel_slots
from dtf.planning.shards import CollectedTest, Shard, effective_target, plan_suite_shards
from dtf.spec.models import Campaign, Limits, Suite


def plan_campaign(
    spec: Campaign,
    collected: Mapping[str, Sequence[str]],
    *,
    history: Mapping[str, Mapping[str, float]],
    run_id: str,
    rootdir: str,
    python: str,
    limits: Mapping[str, float] | None = None,
    matrix: Mapping[str, str] | None = None,
    source: str = "",
    fleet: Mapping[str, Mapping[str, float]] | None = None,
) -> Manifest:
    """Shard every suite; `collected` and `history` are keyed by suite name.

    `fleet` (worker name -> resources), when known, sizes each suite's shard count to the
    slots that can run it (`dtf.planning.shards.balanced_count`).

    `source` is the campaign's source directory, where command suites run.

    `spec` is already resolved for its matrix point (dtf.spec.matrix.resolve_matrix), whose
    values `matrix` records. `limits` overrides the campaign's limits for every suite (the
    CLI's timeout flags).
    """
    levels = suite_levels(spec.suites)
    if not any(collected.get(s.name) for s in spec.suites):
        raise PlanError(f"campaign '{spec.name}' selects no tests in any suite")
    suites: dict[str, SuitePlan] = {}
    shards: list[Shard] = []
    for suite in spec.suites:
        tests = list(collected.get(suite.name, ()))
        suite_limits = spec.limits_for(suite)
        if limits:
            suite_limits = Limits.model_validate({**suite_limits.model_dump(), **limits})
        target = target_for(spec, suite)
        suites[suite.name] = SuitePlan(
            name=suite.name,
            limits=suite_limits,
            env=dict(suite.env),
            depends_on=suite.depends_on,
            tests=tuple(tests),
            target_seconds=target,
            command=suite.command,
            browser=suite.browser,
            workdir=source if (suite.command or suite.browser) else "",
        )
        shards += plan_suite_shards(
            suite.name,
            [CollectedTest(n, suite.name) for n in tests],
            needs=suite_needs(suite),
            history=history.get(suite.name, {}),
            default_seconds=spec.defaults.default_test_seconds,
            target_seconds=target,
            max_shards=suite.max_shards or spec.defaults.max_shards,
            grouping=suite.grouping,
            priority=suite.priority,
            batch_key=suite.batch_key,
            batch_by=suite.batch_by,
            slots=_slots(suite, fleet),
        )
    return Manifest(
        run_id=run_id,
        campaign=spec.name,
        rootdir=rootdir,
        python=python,
        suites=suites,
        shards=tuple(shards),
        levels=tuple(tuple(level) for level in levels),
        matrix=dict(matrix or {}),
    )


def _slots(suite: Suite, fleet: Mapping[str, Mapping[str, float]] | None) -> int | None:
    if not fleet:
        return None
    return parallel_slots(suite_needs(suite), fleet) or None  # none fit: placement says so


def target_for(spec: Campaign, suite: Suite) -> float:
    """The suite's shard target, raised to the floor that keeps per-task overhead small."""
    requested = suite.shard_target_seconds or spec.defaults.shard_target_seconds
    return effective_target(requested, spec.defaults.max_overhead_share)


def suite_needs(suite: Suite) -> dict[str, float]:
    """The Dask resources each shard of `suite` asks for; one CPU when it names none.

    A browser suite asks for its browsers and every capability its pages require.
    """
    if suite.browser is not None:
        return {**suite.browser.needs(), **suite.requires}
    return dict(suite.requires) or {"cpu": 1.0}


def suite_hardware(spec: Campaign) -> dict[str, str]:
    """The hardware class each suite's history is kept under."""
    return {s.name: hardware_class(suite_needs(s)) for s in spec.suites}
