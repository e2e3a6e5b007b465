"""The plan of one campaign run, handed to shard tasks by path rather than by value."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from dtf.browser.spec import BrowserSuiteSpec
from dtf.environments.spec import WorkspaceSpec
from dtf.planning.shards import Shard
from dtf.spec.models import Limits


class SuitePlan(BaseModel):
    """What every shard of a suite shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    limits: Limits
    env: dict[str, str] = {}
    depends_on: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    target_seconds: float = 0.0  # the shard target the planner used (after its floor)
    command: str | None = None  # set for suites of kind 'command'
    workdir: str = ""  # where a command or browser suite runs (the campaign's source)
    browser: BrowserSuiteSpec | None = None  # set for suites of kind 'browser'


class Manifest(BaseModel):
    """A planned run: where the tests live, its suites and its shards."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    campaign: str
    rootdir: str
    python: str
    suites: dict[str, SuitePlan]
    shards: tuple[Shard, ...]
    levels: tuple[tuple[str, ...], ...]
    matrix: dict[str, str] = {}  # the matrix point this run was planned for
    # Where the code comes from (a pinned git commit or a local path) and its environment.
    # With a git source, `rootdir` is relative to the repository's root. None: older plans.
    workspace: WorkspaceSpec | None = None

    def shard(self, shard_id: str) -> Shard:
        for shard in self.shards:
            if shard.shard_id == shard_id:
                return shard
        raise KeyError(f"shard {shard_id} is not in the plan of run {self.run_id}")

    def shards_of(self, suite: str) -> list[Shard]:
        return [s for s in self.shards if s.suite == suite]

    def depends_on(self) -> dict[str, tuple[str, ...]]:
        return {name: plan.depends_on for name, plan in self.suites.items()}

    def planned_tests(self) -> int:
        return sum(len(s.nodeids) for s in self.shards)
