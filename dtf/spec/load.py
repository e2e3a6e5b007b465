"""Reads a campaign YAML file into a validated Campaign; errors name file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from dtf.errors import SpecError
from dtf.spec.checks import campaign_problems
from dtf.spec.models import Campaign, Location, SpecOrigin

ModelT = TypeVar("ModelT", bound=BaseModel)


def load_campaign(path: str | Path) -> Campaign:
    """Load and validate the campaign file at `path`."""
    return parse_campaign(read_text(path, "campaign file"), str(path))


def read_text(path: str | Path, what: str) -> str:
    """The text of a YAML input file; a missing or unreadable file is a SpecError."""
    file = Path(path)
    if not file.exists():
        raise SpecError(str(file), f"{what} not found")
    if file.is_dir():
        raise SpecError(str(file), f"is a directory, expected a {what} (YAML)")
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(file), f"cannot be read: {exc}") from exc


def parse_campaign(text: str, source: str = "<campaign>") -> Campaign:
    """Validate campaign YAML `text`; `source` names it in error messages."""
    spec, lines, data = parse_model(
        text, source, Campaign, "is empty, expected a mapping with 'name' and 'suites'"
    )
    problems = campaign_problems(spec)
    if problems:
        loc, message = problems[0]
        more = len(problems) - 1
        if more:
            message += f" (and {more} more error{'s' if more > 1 else ''})"
        raise SpecError(source, message, line=_line_of(loc, lines), field=_dotted(loc, data))
    return spec.with_origin(SpecOrigin(source, lines))


def parse_model(
    text: str, source: str, model: type[ModelT], empty: str
) -> tuple[ModelT, dict[Location, int], dict[str, Any]]:
    """Validate YAML `text` as `model`, keeping the line of every key for later messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(source, f"invalid YAML: {problem}", line=line) from exc
    if root is None:
        raise SpecError(source, empty)
    lines: dict[Location, int] = {}
    data = _construct(root, (), lines)
    if not isinstance(data, dict):
        raise SpecError(source, "top level must be a mapping", line=root.start_mark.line + 1)
    try:
        return model.model_validate(data), lines, data
    except ValidationError as exc:
        raise _first_error(exc, source, lines, data) from exc


def _construct(node: yaml.Node, path: Location, lines: dict[Location, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _SCALARS.construct_object(key_node)
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return _SCALARS.construct_object(node)


_SCALARS = yaml.SafeLoader("")


def _first_error(
    exc: ValidationError, source: str, lines: dict[Location, int], data: dict[str, Any]
) -> SpecError:
    err = exc.errors()[0]
    loc: Location = tuple(err["loc"])
    line = _line_of(loc, lines)
    field = _dotted(loc, data)
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key (check its spelling)"
    elif err["type"] == "missing":
        message = "is required"
    elif err["type"] == "value_error":
        message = str(err.get("ctx", {}).get("error", message))  # without pydantic's prefix
    count = exc.error_count()
    if count > 1:
        message += f" (and {count - 1} more error{'s' if count > 2 else ''})"
    return SpecError(source, message, line=line, field=field or None)


def _line_of(loc: Location, lines: dict[Location, int]) -> int | None:
    # Pydantic reports model-level errors without a field; point at the deepest known key.
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def _dotted(loc: Location, data: dict[str, Any]) -> str:
    """Render a pydantic location, naming suites by their name rather than their index."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int) and isinstance(node, list) and item < len(node):
            entry = node[item]
            name = entry.get("name") if isinstance(entry, dict) else None
            parts[-1:] = [f"{parts[-1]}[{name or item}]"] if parts else [f"[{item}]"]
            node = entry
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)
