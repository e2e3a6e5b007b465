"""The event protocol's text cleaning and line decoding, on ordinary and hostile input."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from dtf.execution.events import clean_text, decode_lines


def test_clean_text_keeps_ordinary_text_as_it_is() -> None:
    assert clean_text("", 10) == ""
    assert clean_text("hello\nworld", 100) == "hello\nworld"
    assert clean_text("héllo ✓", 100) == "héllo ✓"


def test_clean_text_makes_nul_and_surrogates_storable() -> None:
    cleaned = clean_text("a\x00b \udcff c", 100)
    assert cleaned == "a\\x00b ? c"
    cleaned.encode("utf-8")  # strict


def test_clean_text_cuts_to_the_byte_limit_keeping_head_and_tail() -> None:
    text = "HEAD" + "é" * 5000 + "TAIL"
    cleaned = clean_text(text, 1000)
    assert len(cleaned.encode("utf-8")) <= 1000
    assert cleaned.startswith("HEAD") and cleaned.endswith("TAIL")
    mark = re.search(r"\n\[\.\.\. dtf truncated (\d+) bytes \.\.\.\]\n", cleaned)
    assert mark is not None
    kept = len(cleaned.encode("utf-8")) - len(mark.group(0))
    # The count is what was cut, less the bytes of a character split at either edge.
    assert 0 <= (len(text.encode("utf-8")) - kept) - int(mark.group(1)) <= 2


def test_clean_text_with_tiny_limits() -> None:
    assert clean_text("x" * 100, 0) == ""
    assert clean_text("x" * 100, 5) == "[... dtf truncated 95 bytes ...]"


@given(st.text(), st.integers(min_value=64, max_value=400))
def test_clean_text_is_always_storable_and_bounded(text: str, limit: int) -> None:
    cleaned = clean_text(text, limit)
    data = cleaned.encode("utf-8")  # strict: never a lone surrogate
    assert b"\x00" not in data
    assert len(data) <= limit
    safe = text.encode("utf-8", "replace").replace(b"\x00", b"\\x00")
    if len(safe) <= limit:
        assert data == safe


def test_decode_lines_keeps_the_unfinished_tail() -> None:
    events, tail = decode_lines(b'{"e":"start","id":"a"}\n{"e":"fin')
    assert events == [{"e": "start", "id": "a"}]
    assert tail == b'{"e":"fin'


def test_decode_lines_skips_what_it_cannot_trust() -> None:
    buffer = b'\n  \nnot json\n[1, 2]\n{"e":"start"}\n\xff\xfe\n{"e":"finish"}\n'
    events, tail = decode_lines(buffer)
    assert events == [{"e": "start"}, {"e": "finish"}]
    assert tail == b""


@given(st.lists(st.text(), max_size=8), st.data())
def test_decode_lines_gives_the_same_events_however_the_stream_is_cut(
    ids: list[str], data: st.DataObject
) -> None:
    stream = b"".join(json.dumps({"e": "start", "id": i}).encode() + b"\n" for i in ids)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    seen, tail, start = [], b"", 0
    for cut in [*cuts, len(stream)]:
        events, tail = decode_lines(tail + stream[start:cut])
        seen += events
        start = cut
    assert [e["id"] for e in seen] == ids
    assert tail == b""
