"""The JSON-lines protocol between dtf's pytest plugin and the shard runner."""

from __future__ import annotations

import json
from typing import Any

EVENTS_ENV = "DTF_EVENTS_FILE"
OUTPUT_LIMIT_ENV = "DTF_OUTPUT_LIMIT"

COLLECTED = "collected"
COLLECT_ERROR = "collect_error"
ROOTDIR = "rootdir"
START = "start"
FINISH = "finish"


def clean_text(text: str, limit: int) -> str:
    """Make text safe for any store (valid UTF-8, no NUL) and cut it to `limit` characters."""
    safe = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\\x00")
    if len(safe) <= limit:
        return safe
    dropped = len(safe) - limit
    return (
        safe[: limit // 2]
        + f"\n[... dtf truncated {dropped} characters ...]\n"
        + safe[-limit // 2 :]
    )


def decode_lines(buffer: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """Parse complete lines; return the events and the unfinished tail to keep for later."""
    *complete, tail = buffer.split(b"\n")
    events: list[dict[str, Any]] = []
    for line in complete:
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill mid-write carries nothing we can trust
        if isinstance(event, dict):
            events.append(event)
    return events, tail
