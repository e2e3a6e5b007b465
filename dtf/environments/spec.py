"""What a campaign's `environment` declares, and the workspace a run's shards are given."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dtf.sources.spec import LocalSource, PinnedSource

_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PYTHON = re.compile(r"^3(\.\d+){0,2}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _not_an_option(values: tuple[str, ...]) -> tuple[str, ...]:
    # Each value becomes one argument of uv: one starting with '-' would be read as an option.
    for value in values:
        if not value.strip() or value.lstrip().startswith("-"):
            raise ValueError(f"'{value}' is not a package or location")
    return values


class EnvironmentSpec(_Strict):
    """`environment:` in a campaign file: what to install into the shards' virtualenv."""

    requirements: str | None = None  # a requirements/lock file, relative to the source dir
    packages: tuple[str, ...] = ()  # extra requirement specifiers (`numpy<3`)
    python: str | None = None  # "3.11"; the planner pins it to the flow's own when unset
    find_links: tuple[str, ...] = ()  # wheel directories or pages (uv --find-links)
    index_url: str | None = None  # replaces PyPI (uv --default-index)
    no_index: bool = False  # only find_links (an offline fleet)
    env: dict[str, str] = Field(default_factory=dict)  # set in every shard
    # Names of variables passed from the worker's environment to every shard. Only the names
    # are written down anywhere: the values live in the worker's environment, nowhere else.
    secrets: tuple[str, ...] = ()

    @field_validator("requirements")
    @classmethod
    def _requirements_is_a_file(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or value.startswith("-")):
            raise ValueError(f"'{value}' is not a file name")
        return value

    @field_validator("packages", "find_links")
    @classmethod
    def _no_options(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _not_an_option(value)

    @field_validator("python")
    @classmethod
    def _python_version(cls, value: str | None) -> str | None:
        if value is not None and not _PYTHON.match(value):
            raise ValueError(f"'{value}' is not a Python version like 3.11")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _VARIABLE.match(name):
                raise ValueError(f"'{name}' is not an environment variable name")
        return value

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _VARIABLE.match(name):
                raise ValueError(f"'{name}' is not an environment variable name")
        return value


class WorkspaceSpec(_Strict):
    """Where a run's code comes from and what it runs in: a field of the run's manifest.

    For a git source, the manifest's `rootdir` is relative to the repository's root, since
    every worker keeps its checkout somewhere else.
    """

    source: PinnedSource | LocalSource
    environment: EnvironmentSpec | None = None
    lock_hash: str = ""  # of the requirements content, packages and python, at plan time

    @property
    def sha(self) -> str | None:
        return self.source.sha if isinstance(self.source, PinnedSource) else None
