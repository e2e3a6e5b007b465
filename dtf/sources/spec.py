"""What a campaign's `source` may be: a local path, or a git repository and a ref to test."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

_SHA = re.compile(r"^[0-9a-f]{40}$")
# What `git check-ref-format` refuses, roughly: a ref never starts with '-' (it would read
# as an option), and has no whitespace, '..', '~', '^', ':', '?', '*', '[' or '\'.
_BAD_REF = re.compile(r"^-|\.\.|[\s~^:?*\[\\]|@\{|^$")


def _relative_dir(value: str) -> str:
    parts = [p for p in value.replace("\\", "/").split("/") if p not in ("", ".")]
    if value.startswith("/") or ".." in parts:
        raise ValueError("must be a directory inside the repository (relative, without '..')")
    return "/".join(parts) or "."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GitSource(_Strict):
    """`source: {git: URL, ref: main, subdir: python}` in a campaign file."""

    git: str = Field(min_length=1)
    ref: str = "HEAD"  # a branch, a tag or a commit SHA; the flow pins it to a SHA at start
    subdir: str = "."  # the campaign's source directory inside the repository

    @field_validator("git")
    @classmethod
    def _url_has_no_secret(cls, value: str) -> str:
        if value.startswith("-"):
            raise ValueError("a repository URL cannot start with '-'")
        parts = urlsplit(value)
        if parts.password or (parts.username and parts.scheme in ("http", "https")):
            # A URL is stored in the plan and the results: a token in it would leak.
            raise ValueError(
                "credentials do not belong in the URL: use the worker's git credential "
                "helper or GIT_CONFIG_* environment variables"
            )
        return value

    @field_validator("ref")
    @classmethod
    def _ref_is_plausible(cls, value: str) -> str:
        if _BAD_REF.search(value):
            raise ValueError(f"'{value}' is not a valid git branch, tag or commit")
        return value

    @field_validator("subdir")
    @classmethod
    def _subdir_is_inside(cls, value: str) -> str:
        return _relative_dir(value)


class PinnedSource(_Strict):
    """A git source pinned to one commit: what every shard of a run checks out."""

    url: str
    ref: str  # what the campaign asked for, kept for people reading the run
    sha: str
    subdir: str = "."

    @field_validator("sha")
    @classmethod
    def _full_sha(cls, value: str) -> str:
        if not _SHA.match(value):
            raise ValueError("must be a full 40-hex commit SHA")
        return value


class LocalSource(_Strict):
    """A directory every worker sees at the same path (a shared disk, the quickstart)."""

    path: str


SourceValue = str | GitSource
_SOURCE: TypeAdapter[SourceValue] = TypeAdapter(SourceValue)


def parse_source(value: object) -> SourceValue:
    """A campaign's `source` value: a path string, or a mapping with `git` (and `ref`)."""
    if isinstance(value, Mapping):
        return GitSource.model_validate(dict(value))
    return _SOURCE.validate_python(value)


def redact_url(url: str) -> str:
    """`url` without the user name and password, for messages and logs."""
    parts = urlsplit(url)
    if not parts.username and not parts.password:
        return url
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
