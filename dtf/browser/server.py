"""Serves a directory of test pages on loopback with the headers WASM threads need."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dtf.browser.jsapi import API_PATH, BLANK_PATH, EVENTS_PATH, api_source

# Cross-origin isolation: without COOP+COEP a page has no SharedArrayBuffer, so no WASM
# threads. CORP lets our own resources load under require-corp.
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}
MAX_EVENT_BYTES = 4_000_000
BLANK_HTML = b"<!doctype html><html><head><title>dtf</title></head><body></body></html>"
# Python 3.11's table lacks .mjs, and a module script served as text/plain is refused.
EXTRA_TYPES = {".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript",
               ".onnx": "application/octet-stream"}  # fmt: skip


class EventSink:
    """Page events posted by the injected API, kept per page-run token until taken."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._docs: dict[str, list[str]] = {}

    def add(self, token: str, doc: str, events: list[dict[str, Any]]) -> None:
        with self._lock:
            docs = self._docs.setdefault(token, [])
            if doc not in docs:
                docs.append(doc)
            index = docs.index(doc)
            self._events.setdefault(token, []).extend({**e, "doc": index} for e in events)

    def take(self, token: str) -> list[dict[str, Any]]:
        """The token's events in page order (document, then sequence), forgotten after."""
        with self._lock:
            events = self._events.pop(token, [])
            self._docs.pop(token, None)
        return sorted(events, key=lambda e: (e["doc"], int(e.get("seq", 0))))


class _Handler(SimpleHTTPRequestHandler):
    sink: EventSink

    def end_headers(self) -> None:
        for name, value in ISOLATION_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == API_PATH:
            self._send(api_source(None).encode(), "text/javascript")
        elif path == BLANK_PATH:
            self._send(BLANK_HTML, "text/html")
        else:
            super().do_GET()

    def do_POST(self) -> None:
        if self.path != EVENTS_PATH:
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_EVENT_BYTES:
            self.send_error(413)
            return
        try:
            body = json.loads(self.rfile.read(length))
            self.sink.add(str(body["token"]), str(body["doc"]), list(body["events"]))
        except (ValueError, KeyError, TypeError):
            self.send_error(400)
            return
        self.send_response(204)
        self.end_headers()

    def _send(self, data: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a request log per page resource would drown the worker's own log


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser killed mid-response breaks its pipe: expected, not news


class PageServer:
    """`root` on http://127.0.0.1:<ephemeral port>, plus dtf's API and event endpoints."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.sink = EventSink()
        types = {**_Handler.extensions_map, **EXTRA_TYPES}
        handler = type("Handler", (_Handler,), {"sink": self.sink, "extensions_map": types})
        factory = functools.partial(handler, directory=str(self.root))
        self._server = _Server(("127.0.0.1", 0), factory)
        # A short poll keeps close() quick: shutdown() waits for the loop to look up.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="dtf-page-server", daemon=True
        )
        self._thread.start()

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, page: str) -> str:
        """The URL of `page` (a path relative to the root, optionally with a ?query)."""
        path, sep, query = page.partition("?")
        return f"{self.origin}/{quote(path.lstrip('/'))}{sep}{query}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@contextmanager
def serving(root: Path) -> Iterator[PageServer]:
    server = PageServer(root)
    try:
        yield server
    finally:
        server.close()
