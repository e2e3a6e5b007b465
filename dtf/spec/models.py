"""Pydantic models of a campaign file; pure validation, no I/O."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_RESOURCE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """Kill limits for a shard's process group, in seconds."""

    test_timeout: float = Field(default=300.0, gt=0)
    shard_timeout: float = Field(default=3600.0, gt=0)
    idle_timeout: float = Field(default=600.0, gt=0)
    max_relaunches: int = Field(default=20, ge=0)
    output_limit_bytes: int = Field(default=64_000, ge=0)

    def merged(self, override: LimitsOverride | None) -> Limits:
        if override is None:
            return self
        values = {k: v for k, v in override.model_dump().items() if v is not None}
        return self.model_copy(update=values)


class LimitsOverride(_Strict):
    """Per-suite overrides of the campaign's default limits."""

    test_timeout: float | None = Field(default=None, gt=0)
    shard_timeout: float | None = Field(default=None, gt=0)
    idle_timeout: float | None = Field(default=None, gt=0)
    max_relaunches: int | None = Field(default=None, ge=0)
    output_limit_bytes: int | None = Field(default=None, ge=0)


class Selection(_Strict):
    """Which pytest tests a suite runs, in pytest's own terms."""

    paths: tuple[str, ...] = ("tests",)
    markers: str | None = None
    keywords: str | None = None
    node_ids: tuple[str, ...] = ()

    def narrowed(self, keywords: str | None, markers: str | None) -> Selection:
        """This selection further restricted by a -k and a -m expression."""
        return self.model_copy(
            update={
                "keywords": _conjoin(self.keywords, keywords),
                "markers": _conjoin(self.markers, markers),
            }
        )

    def pytest_args(self) -> list[str]:
        args = list(self.node_ids) if self.node_ids else list(self.paths)
        if self.markers:
            args += ["-m", self.markers]
        if self.keywords:
            args += ["-k", self.keywords]
        return args


def _conjoin(first: str | None, second: str | None) -> str | None:
    if first and second:
        return f"({first}) and ({second})"
    return first or second


class Suite(_Strict):
    """A named group of tests with one hardware need."""

    name: str
    kind: Literal["pytest"] = "pytest"
    select: Selection = Selection()
    requires: dict[str, float] = Field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    priority: int = 0
    grouping: Literal["test", "file", "class"] = "test"
    shard_target_seconds: float | None = Field(default=None, gt=0)
    max_shards: int | None = Field(default=None, ge=1)
    limits: LimitsOverride | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be 1-63 letters, digits, '_', '.' or '-'")
        return value

    @field_validator("requires")
    @classmethod
    def _resources_are_positive(cls, value: dict[str, float]) -> dict[str, float]:
        for key, amount in value.items():
            if not _RESOURCE.match(key):
                raise ValueError(f"resource name '{key}' must be lower-case [a-z0-9_]")
            if amount <= 0:
                raise ValueError(f"resource '{key}' must be a positive amount, got {amount}")
        return value


class Defaults(_Strict):
    """Campaign-wide defaults that suites may override."""

    shard_target_seconds: float = Field(default=60.0, gt=0)
    max_shards: int = Field(default=200, ge=1)
    default_test_seconds: float = Field(default=1.0, gt=0)
    limits: Limits = Limits()


class Campaign(_Strict):
    """A whole campaign file."""

    name: str
    source: str = "."
    defaults: Defaults = Defaults()
    suites: tuple[Suite, ...] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be 1-63 letters, digits, '_', '.' or '-'")
        return value

    @model_validator(mode="after")
    def _suite_names_unique(self) -> Campaign:
        seen: set[str] = set()
        for suite in self.suites:
            if suite.name in seen:
                raise ValueError(f"suite name '{suite.name}' is used twice")
            seen.add(suite.name)
        return self

    def suite(self, name: str) -> Suite:
        for suite in self.suites:
            if suite.name == name:
                return suite
        raise KeyError(name)

    def limits_for(self, suite: Suite) -> Limits:
        return self.defaults.limits.merged(suite.limits)
