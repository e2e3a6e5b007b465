"""The JSON-lines protocol between dtf's pytest plugin and the shard runner."""

from __future__ import annotations

import json
from typing import Any

EVENTS_ENV = "DTF_EVENTS_FILE"
OUTPUT_LIMIT_ENV = "DTF_OUTPUT_LIMIT"
# A file of the node ids to run, one a line: the plugin keeps only those of the modules given.
SELECT_ENV = "DTF_SELECT_FILE"
DEFAULT_OUTPUT_LIMIT = 64_000

COLLECTED = "collected"
COLLECT_ERROR = "collect_error"
COLLECT_START = "collect_start"
COLLECT_END = "collect_end"
MISSING = "missing"
ROOTDIR = "rootdir"
START = "start"
FINISH = "finish"
# pytest's session is over (every test torn down, plugins' session-finish work done), with
# its exit status.
SESSION_END = "session_end"

TRUNCATION_MARK = "\n[... dtf truncated {dropped} bytes ...]\n"


def clean_text(text: str, limit: int) -> str:
    """Make text safe for any store (valid UTF-8, no NUL) and cut it to `limit` UTF-8 bytes.

    A cut keeps the head and the tail (where the error usually is) around a marker that says
    how much was dropped; the marker counts towards the limit.
    """
    if not text:
        return ""
    if text.isascii() and "\x00" not in text:
        if len(text) <= limit:
            return text  # the common case costs two scans and no copy
        data = text.encode("ascii")
    else:
        # "replace" turns lone surrogates (from undecodable bytes) into "?".
        data = text.encode("utf-8", "replace").replace(b"\x00", b"\\x00")
        if len(data) <= limit:
            return data.decode("utf-8")
    return _cut(data, limit)


def _cut(data: bytes, limit: int) -> str:
    if limit <= 0:
        return ""
    dropped = len(data) - limit
    for _ in range(3):  # the marker displaces bytes too: settle on the true count
        mark = TRUNCATION_MARK.format(dropped=dropped)
        room = limit - len(mark)
        if room < 0:
            return mark.strip("\n")  # a limit this small keeps only the fact of the cut
        dropped = len(data) - room
    head, tail = room // 4, room - room // 4
    # "ignore" only drops a character split by the cut: the data is valid UTF-8 already.
    return (
        data[:head].decode("utf-8", "ignore")
        + mark
        + data[len(data) - tail :].decode("utf-8", "ignore")
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
