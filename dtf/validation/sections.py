"""Reads one section of a campaign file on its own, with file/line/field errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ConfigDict, create_model

from dtf.spec.load import parse_model, read_text
from dtf.spec.models import Location
from dtf.validation.spec import Expectations


def read_section(text: str, source: str, key: str, model: Any, default: Any) -> Any:
    """Validate the `key` section of campaign YAML `text`; SpecError names file, line, field.

    The campaign model itself is not consulted: the section is read on its own, so the rest of
    the file may hold keys this module does not know.
    """
    return read_section_lines(text, source, key, model, default)[0]


def read_section_lines(
    text: str, source: str, key: str, model: Any, default: Any
) -> tuple[Any, dict[Location, int]]:
    """Like read_section, also returning the line of every key (for later messages)."""
    wrapper = create_model(
        f"_{key.title()}Section",
        __config__=ConfigDict(extra="ignore"),
        **{key: (model, default)},  # type: ignore[call-overload]
    )
    parsed, lines, _data = parse_model(text, source, wrapper, "is empty, expected a mapping")
    return getattr(parsed, key), lines


def read_expectations(path: str | Path) -> Expectations:
    """The `expectations:` section of the campaign file at `path` (defaults when absent)."""
    text = read_text(path, "campaign file")
    section: Expectations = read_section(
        text, str(path), "expectations", Expectations, Expectations()
    )
    return section
