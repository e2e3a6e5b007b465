"""Pydantic models of a browser suite: its pages, their requirements, and its browser pool."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Names shared with the worker resources dtf.hardware.resources derives from the probes.
Capability = Literal["webgpu", "webgpu_hw", "webnn", "wasm_simd", "wasm_threads"]
CAPABILITIES: tuple[str, ...] = ("webgpu", "webgpu_hw", "webnn", "wasm_simd", "wasm_threads")
GLOB_CHARS = frozenset("*?[")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrowserPage(_Strict):
    """One page (or a glob of pages) under the suite's root, with what it needs to run."""

    path: str = Field(min_length=1)
    requires: tuple[Capability, ...] = ()
    timeout: float | None = Field(default=None, gt=0)

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        file_part = value.split("?", 1)[0]
        if file_part.startswith("/") or ".." in file_part.split("/"):
            raise ValueError("must be a path relative to the suite's root, without '..'")
        return value

    @property
    def file(self) -> str:
        """The file part of the path: a query (`model.html?ep=wasm`) is for the page only."""
        return self.path.split("?", 1)[0]

    @property
    def is_glob(self) -> bool:
        return bool(GLOB_CHARS & set(self.file))

    @property
    def requirement_key(self) -> str:
        """A batch key: pages with the same requirements can share a shard and its placement."""
        return "+".join(sorted(set(self.requires))) or "none"


class BrowserSuiteSpec(_Strict):
    """What a `kind: browser` suite adds to a suite: pages, their root, and the pool."""

    root: str = "."
    pages: tuple[BrowserPage, ...] = Field(min_length=1)
    browser: Literal["chromium", "chrome"] = "chromium"
    # None: one browser per `browser_<kind>` resource the shard was given (at least one).
    pool_size: int | None = Field(default=None, ge=1, le=64)
    pages_per_browser: int = Field(default=50, ge=1)
    page_timeout: float | None = Field(default=None, gt=0)
    flags: tuple[str, ...] = ()

    @field_validator("pages", mode="before")
    @classmethod
    def _strings_are_paths(cls, value: object) -> object:
        # `pages: [a.html, b.html]` is shorthand for `[{path: a.html}, {path: b.html}]`.
        if isinstance(value, list | tuple):
            return [{"path": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("flags")
    @classmethod
    def _flags_are_switches(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for flag in value:
            if not flag.startswith("--"):
                raise ValueError(f"browser flag {flag!r} must start with '--'")
            if flag.startswith("--user-data-dir"):
                raise ValueError("--user-data-dir is dtf's: each browser gets a fresh profile")
        return value

    def needs(self, pool_size: int | None = None) -> dict[str, float]:
        """The Dask resources a shard of this suite asks for: its browsers and capabilities.

        Placement then sends a suite with a `webgpu` page only to a worker that probed
        WebGPU; pure, so the planner can call it.
        """
        browsers = max(1, pool_size or self.pool_size or 1)
        needs: dict[str, float] = {f"browser_{self.browser}": float(browsers)}
        for page in self.pages:
            needs.update(dict.fromkeys(page.requires, 1.0))
        return needs

    @model_validator(mode="after")
    def _root_is_relative(self) -> BrowserSuiteSpec:
        if self.root.startswith("/") or ".." in self.root.split("/"):
            raise ValueError("root must be a path inside the campaign's source, without '..'")
        return self
