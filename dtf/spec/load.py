"""Reads a campaign YAML file into a validated Campaign; errors name file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dtf.errors import SpecError
from dtf.spec.models import Campaign

Location = tuple[str | int, ...]


def load_campaign(path: str | Path) -> Campaign:
    """Load and validate the campaign file at `path`."""
    file = Path(path)
    if not file.exists():
        raise SpecError(str(file), "campaign file not found")
    if file.is_dir():
        raise SpecError(str(file), "is a directory, expected a campaign YAML file")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(file), f"cannot be read: {exc}") from exc
    return parse_campaign(text, str(file))


def parse_campaign(text: str, source: str = "<campaign>") -> Campaign:
    """Validate campaign YAML `text`; `source` names it in error messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(source, f"invalid YAML: {problem}", line=line) from exc
    if root is None:
        raise SpecError(source, "is empty, expected a mapping with 'name' and 'suites'")
    lines: dict[Location, int] = {}
    data = _construct(root, (), lines)
    if not isinstance(data, dict):
        raise SpecError(source, "top level must be a mapping", line=root.start_mark.line + 1)
    try:
        return Campaign.model_validate(data)
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
    # Pydantic reports model-level errors without a field; point at the deepest known key.
    line = None
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            line = lines[loc[:cut]]
            break
    field = _dotted(loc, data)
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key (check its spelling)"
    elif err["type"] == "missing":
        message = "is required"
    count = exc.error_count()
    if count > 1:
        message += f" (and {count - 1} more error{'s' if count > 2 else ''})"
    return SpecError(source, message, line=line, field=field or None)


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
