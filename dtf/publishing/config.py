"""Reads `publishers:` from a campaign file and checks each entry's options with its plugin."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dtf.errors import PublishError, SpecError
from dtf.publishing.base import load_publisher_class
from dtf.publishing.spec import PublisherSpec
from dtf.spec.load import read_text
from dtf.spec.models import Location
from dtf.validation.sections import read_section_lines


def read_publishers(path: str | Path) -> tuple[PublisherSpec, ...]:
    """The `publishers:` entries of the campaign file at `path`, each checked by its plugin."""
    text = read_text(path, "campaign file")
    return parse_publishers(text, str(path))


def parse_publishers(text: str, source: str) -> tuple[PublisherSpec, ...]:
    """Validate the `publishers:` section of campaign YAML `text`."""
    entries: tuple[PublisherSpec, ...]
    entries, lines = read_section_lines(text, source, "publishers", tuple[PublisherSpec, ...], ())
    names: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.label in names:
            raise SpecError(
                source,
                f"publisher name '{entry.label}' is used twice",
                line=lines.get(("publishers", i)),
                field=f"publishers[{i}]",
            )
        names.add(entry.label)
        _check_options(entry, source, i, lines)
    return entries


def publishers_from_mapping(data: Mapping[str, Any]) -> tuple[PublisherSpec, ...]:
    """The `publishers:` entries of an already-parsed campaign mapping."""
    entries = tuple(PublisherSpec.model_validate(e) for e in data.get("publishers") or ())
    for i, entry in enumerate(entries):
        _check_options(entry, "<campaign>", i, {})
    return entries


def _check_options(
    entry: PublisherSpec, source: str, index: int, lines: Mapping[Location, int]
) -> None:
    where = f"publishers[{entry.label}]"
    try:
        cls = load_publisher_class(entry.kind)
    except PublishError as exc:
        line = lines.get(("publishers", index, "kind"))
        raise SpecError(source, str(exc), line=line, field=f"{where}.kind") from exc
    try:
        cls.Options.model_validate(entry.options)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        message = (
            "unknown key (check its spelling)" if err["type"] == "extra_forbidden" else (err["msg"])
        )
        key = err["loc"][0] if err["loc"] else ""
        line = lines.get(("publishers", index, key)) or lines.get(("publishers", index))
        raise SpecError(
            source, message, line=line, field=f"{where}.{loc}" if loc else where
        ) from exc
