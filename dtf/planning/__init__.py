"""Planning: suite DAG, duration-aware shards, makespan estimates; pure functions, no I/O."""

from dtf.planning.dag import suite_levels
from dtf.planning.schedule import Schedule, Worker, estimate_schedule, submission_order
from dtf.planning.shards import CollectedTest, Shard, plan_suite_shards

__all__ = [
    "CollectedTest",
    "Schedule",
    "Shard",
    "Worker",
    "estimate_schedule",
    "plan_suite_shards",
    "submission_order",
    "suite_levels",
]
