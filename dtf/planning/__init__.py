"""Planning: the suite DAG and duration-aware shards; pure functions, no I/O."""

from dtf.planning.dag import suite_levels
from dtf.planning.shards import CollectedTest, Shard, plan_suite_shards

__all__ = ["CollectedTest", "Shard", "plan_suite_shards", "suite_levels"]
