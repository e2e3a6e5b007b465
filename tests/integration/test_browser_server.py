"""The page server over real loopback HTTP: isolation headers, types, API, event sink."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dtf.browser.jsapi import API_PATH, BLANK_PATH, EVENTS_PATH
from dtf.browser.server import PageServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PageServer]:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "page.html").write_text("<p>hi</p>")
    (tmp_path / "site" / "code.mjs").write_text("export const x = 1;")
    (tmp_path / "site" / "m.wasm").write_bytes(b"\0asm\1\0\0\0")
    (tmp_path / "secret.txt").write_text("outside the root")
    served = PageServer(tmp_path / "site")
    yield served
    served.close()


def test_pages_are_served_on_loopback_with_cross_origin_isolation(server: PageServer) -> None:
    assert server.origin.startswith("http://127.0.0.1:")
    response = httpx.get(server.url("page.html"))
    assert response.status_code == 200
    assert response.text == "<p>hi</p>"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert response.headers["cross-origin-embedder-policy"] == "require-corp"
    assert response.headers["cross-origin-resource-policy"] == "same-origin"


def test_wasm_and_module_scripts_get_types_browsers_accept(server: PageServer) -> None:
    assert httpx.get(server.url("m.wasm")).headers["content-type"] == "application/wasm"
    assert httpx.get(server.url("code.mjs")).headers["content-type"] == "text/javascript"


def test_a_query_reaches_the_page_and_nothing_outside_the_root_is_served(
    server: PageServer,
) -> None:
    assert server.url("page.html?ep=wasm&shard=0/2").endswith("/page.html?ep=wasm&shard=0/2")
    assert httpx.get(server.url("page.html?ep=wasm")).status_code == 200
    escaped = httpx.get(f"{server.origin}/../secret.txt")
    assert "outside the root" not in escaped.text


def test_the_api_and_a_blank_isolated_page_are_served(server: PageServer) -> None:
    api = httpx.get(server.origin + API_PATH)
    assert api.headers["content-type"] == "text/javascript"
    assert "const TOKEN = null;" in api.text  # opened by hand: the API sends nothing
    assert "result(name, outcome, details)" in api.text
    blank = httpx.get(server.origin + BLANK_PATH)
    assert blank.status_code == 200
    assert blank.headers["cross-origin-embedder-policy"] == "require-corp"


def test_posted_events_are_kept_per_token_in_page_order(server: PageServer) -> None:
    def post(doc: str, seqs: list[int], token: str = "t1") -> int:
        events = [{"kind": "log", "seq": s, "text": f"{doc}{s}"} for s in seqs]
        body = json.dumps({"token": token, "doc": doc, "events": events})
        return httpx.post(server.origin + EVENTS_PATH, content=body).status_code

    assert post("a", [1, 2]) == 204
    assert post("a", [0]) == 204  # arrived late: sorted back into place
    assert post("b", [0]) == 204  # a second document (the page navigated)
    assert post("x", [0], token="other") == 204
    texts = [e["text"] for e in server.sink.take("t1")]
    assert texts == ["a0", "a1", "a2", "b0"]
    assert server.sink.take("t1") == []  # taken once
    assert [e["text"] for e in server.sink.take("other")] == ["x0"]


def test_malformed_event_posts_are_refused(server: PageServer) -> None:
    url = server.origin + EVENTS_PATH
    assert httpx.post(url, content=b"not json").status_code == 400
    assert httpx.post(url, content=json.dumps({"token": "t"})).status_code == 400
    assert httpx.post(server.origin + "/elsewhere", content=b"{}").status_code == 404
