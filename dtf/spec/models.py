"""Pydantic models of a campaign file; pure validation, no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from dtf.browser.spec import BrowserSuiteSpec
from dtf.environments.spec import EnvironmentSpec
from dtf.publishing.spec import PublisherSpec
from dtf.sources.spec import GitSource
from dtf.validation.spec import Expectations

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_RESOURCE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_DIMENSION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

# A location inside a campaign file, as pydantic reports it: ("suites", 2, "when", "x").
Location = tuple[str | int, ...]


@dataclass(frozen=True)
class SpecOrigin:
    """Where a campaign came from: its file and the line of every key, for error messages."""

    source: str
    lines: Mapping[Location, int] = field(default_factory=dict)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_values(value: object) -> object:
    """A condition's value may be one string or a list of them; keep a tuple either way."""
    return (value,) if isinstance(value, str) else value


# A matrix condition: dimension -> the values it matches (one of them suffices).
Condition = dict[str, tuple[str, ...]]


def _normalise_condition(value: object) -> object:
    if isinstance(value, dict):
        return {k: _as_values(v) for k, v in value.items()}
    return value


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


def _check_resources(value: dict[str, float]) -> dict[str, float]:
    for key, amount in value.items():
        if not _RESOURCE.match(key):
            raise ValueError(f"resource name '{key}' must be lower-case [a-z0-9_]")
        if amount <= 0:
            raise ValueError(f"resource '{key}' must be a positive amount, got {amount}")
    return value


class Gate(_Strict):
    """When a suite counts as failed for its dependents: any failure, or a pass rate below."""

    min_pass_rate: float | None = Field(default=None, ge=0, le=1)


class Suite(_Strict):
    """A named group of tests with one hardware need."""

    name: str
    kind: Literal["pytest", "command", "browser"] = "pytest"
    # For kind 'command': a shell command run in the source directory; its exit code is the
    # result, under the same limits as a test.
    command: str | None = Field(default=None, min_length=1)
    # For kind 'browser': pages run in pooled headless browsers (dtf/browser).
    browser: BrowserSuiteSpec | None = None
    select: Selection = Selection()
    requires: dict[str, float] = Field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    gate: Gate = Gate()
    priority: int = 0
    grouping: Literal["test", "file", "class"] = "test"
    batch_key: str | None = Field(default=None, min_length=1)
    batch_by: str | None = Field(default=None, min_length=1)
    shard_target_seconds: float | None = Field(default=None, gt=0)
    max_shards: int | None = Field(default=None, ge=1)
    limits: LimitsOverride | None = None
    env: dict[str, str] = Field(default_factory=dict)
    # Alternative hardware, in order, that the recovery ladder may use (results are degraded).
    fallbacks: tuple[dict[str, float], ...] = ()
    # When no live worker (nor a fallback) offers `requires`: fail the campaign before anything
    # runs ('error'), or store every test of the suite as skipped with the reason ('skip').
    if_unplaceable: Literal["error", "skip"] = "error"
    # How many times failed tests are re-run; pass-on-rerun is 'flaky'. None: the default.
    reruns: int | None = Field(default=None, ge=0, le=5)
    when: Condition = Field(default_factory=dict)
    unless: Condition = Field(default_factory=dict)
    # Reuse the test ids an identical earlier collection found (same files, interpreter,
    # packages, variables: dtf.cache.collected); false for a suite whose collection reads
    # anything else (the clock, a service, files outside its tree).
    cache_collection: bool = True

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be 1-63 letters, digits, '_', '.' or '-'")
        return value

    @field_validator("requires")
    @classmethod
    def _resources_are_positive(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_resources(value)

    @model_validator(mode="after")
    def _command_matches_kind(self) -> Suite:
        if self.kind == "command" and not self.command:
            raise ValueError("a suite of kind 'command' needs a 'command'")
        if self.kind != "command" and self.command:
            raise ValueError("'command' is only for suites of kind 'command'")
        if self.kind == "browser" and self.browser is None:
            raise ValueError("a suite of kind 'browser' needs 'browser' (its pages)")
        if self.kind != "browser" and self.browser is not None:
            raise ValueError("'browser' is only for suites of kind 'browser'")
        return self

    @field_validator("fallbacks")
    @classmethod
    def _fallbacks_are_resources(
        cls, value: tuple[dict[str, float], ...]
    ) -> tuple[dict[str, float], ...]:
        return tuple(_check_resources(f) for f in value)

    @field_validator("when", "unless", mode="before")
    @classmethod
    def _condition_values(cls, value: object) -> object:
        return _normalise_condition(value)

    @field_validator("batch_by")
    @classmethod
    def _one_group(cls, value: str | None) -> str | None:
        return None if value is None else _check_batch_pattern(value)


def _check_batch_pattern(value: str) -> str:
    try:
        pattern = re.compile(value)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression: {exc}") from exc
    if pattern.groups != 1:
        raise ValueError(
            f"must have exactly one capture group (the batch key), found {pattern.groups}"
        )
    return value


class Parametrize(_Strict):
    """What a matrix rule changes in the suites it names: environment, selection, hardware."""

    suites: tuple[str, ...] = ()  # empty: every selected suite
    env: dict[str, str] = Field(default_factory=dict)
    markers: str | None = None
    keywords: str | None = None
    requires: dict[str, float] = Field(default_factory=dict)

    @field_validator("requires")
    @classmethod
    def _resources_are_positive(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_resources(value)


class MatrixRule(_Strict):
    """Applies when every `when` dimension matches and `unless` does not; then acts on suites."""

    when: Condition = Field(default_factory=dict)
    unless: Condition = Field(default_factory=dict)
    select: tuple[str, ...] | None = None  # only these suites run
    exclude: tuple[str, ...] = ()
    parametrize: Parametrize | None = None

    @field_validator("when", "unless", mode="before")
    @classmethod
    def _condition_values(cls, value: object) -> object:
        return _normalise_condition(value)

    @model_validator(mode="after")
    def _does_something(self) -> MatrixRule:
        if self.select is None and not self.exclude and self.parametrize is None:
            raise ValueError("a rule needs 'select', 'exclude' or 'parametrize'")
        return self


class Matrix(_Strict):
    """Named dimensions of the conditions a campaign runs under, and rules over suites."""

    dimensions: dict[str, tuple[str, ...]] = Field(min_length=1)
    defaults: dict[str, str] = Field(default_factory=dict)
    rules: tuple[MatrixRule, ...] = ()

    @field_validator("dimensions")
    @classmethod
    def _dimensions_are_named_sets(
        cls, value: dict[str, tuple[str, ...]]
    ) -> dict[str, tuple[str, ...]]:
        for name, values in value.items():
            if not _DIMENSION.match(name):
                raise ValueError(f"dimension name '{name}' must be a Python-style identifier")
            if not values:
                raise ValueError(f"dimension '{name}' lists no values")
            if len(set(values)) != len(values):
                raise ValueError(f"dimension '{name}' lists a value twice")
        return value

    def default_values(self) -> dict[str, str]:
        """Each dimension's value when none is given: its default, else its first value."""
        return {k: self.defaults.get(k, v[0]) for k, v in self.dimensions.items()}


class Defaults(_Strict):
    """Campaign-wide defaults that suites may override."""

    shard_target_seconds: float = Field(default=60.0, gt=0)
    # The share of a shard's run time Prefect's per-task cost may take; sets the floor of
    # shard_target_seconds (dtf.planning.shards.target_floor).
    max_overhead_share: float = Field(default=0.02, gt=0, lt=1)
    max_shards: int = Field(default=200, ge=1)
    default_test_seconds: float = Field(default=1.0, gt=0)
    reruns: int = Field(default=0, ge=0, le=5)
    limits: Limits = Limits()


class Campaign(_Strict):
    """A whole campaign file."""

    name: str
    # A local directory (relative to the campaign file), or {git: URL, ref: ..., subdir: ...}.
    source: str | GitSource = "."
    # What to install into the shards' virtual environment; none: the worker's own Python.
    environment: EnvironmentSpec | None = None
    defaults: Defaults = Defaults()
    matrix: Matrix | None = None
    suites: tuple[Suite, ...] = Field(min_length=1)
    # The validation gate (Great Expectations) runs only when the file declares expectations.
    expectations: Expectations | None = None
    publishers: tuple[PublisherSpec, ...] = ()
    _origin: SpecOrigin | None = PrivateAttr(default=None)

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

    @property
    def origin(self) -> SpecOrigin:
        """The file this campaign was loaded from (and its lines), for error messages."""
        return self._origin or SpecOrigin("<campaign>")

    def with_origin(self, origin: SpecOrigin) -> Campaign:
        self._origin = origin
        return self
