"""The `expectations:` section of a campaign file: pydantic models only, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scope(_Strict):
    """Which results a rule looks at; an unset field matches everything."""

    suite: str | None = None
    hardware: str | None = None
    test: str | None = Field(default=None, description="an fnmatch pattern over test ids")


class PassRate(Scope):
    """Each matching suite/hardware group passes at least this share of its tests."""

    at_least: float = Field(ge=0, le=1)


class MetricRule(Scope):
    """A recorded metric stays within bounds, and/or within a percentage of the baseline."""

    name: str = Field(min_length=1)
    min: float | None = None
    max: float | None = None
    within_pct_of_baseline: float | None = Field(default=None, gt=0)
    # Which change counts against the rule: a latency may fall freely, a throughput may rise.
    direction: str = Field(default="both", pattern="^(both|increase|decrease)$")

    @model_validator(mode="after")
    def _checks_something(self) -> MetricRule:
        if self.min is None and self.max is None and self.within_pct_of_baseline is None:
            raise ValueError("a metric rule needs 'min', 'max' or 'within_pct_of_baseline'")
        return self


class DurationLimit(Scope):
    """Every matching test finishes in at most this many seconds."""

    max_seconds: float = Field(gt=0)


class Expectations(_Strict):
    """What a run must satisfy to pass the gate; completeness is always required."""

    pass_rate: tuple[PassRate, ...] = ()
    no_infra_failed_shards: bool = True
    no_new_failures: bool = False
    metrics: tuple[MetricRule, ...] = ()
    durations: tuple[DurationLimit, ...] = ()


def expectations_from_mapping(data: Mapping[str, Any]) -> Expectations:
    """The `expectations:` section of an already-parsed campaign mapping."""
    return Expectations.model_validate(data.get("expectations") or {})
