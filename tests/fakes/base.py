"""A small routed HTTP fake on pytest-httpserver, with injectable faults (5xx, 429, delays)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

Handler = Callable[..., Response]


@dataclass
class Fault:
    """What the next matching request gets instead of (or on top of) the normal answer."""

    status: int | None = None  # answer with this status and do nothing
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # do the work, then wait this long before answering (a lost reply)
    match: str | None = None  # only requests whose "METHOD /path" matches this regex

    def applies(self, method: str, path: str) -> bool:
        return self.match is None or re.search(self.match, f"{method} {path}") is not None


class FakeService:
    """Routes requests to handlers by method and path regex; records every request.

    `outage` answers every request with 503; `fail_next` queues faults for the next requests.
    The server is threaded so a slow (timed-out) answer does not block the client's retry.
    """

    def __init__(self) -> None:
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.faults: deque[Fault] = deque()
        self.outage = False
        self.requests: list[tuple[str, str, dict[str, str], str]] = []
        self.lock = threading.Lock()

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeService:
        self.server.start()
        self.server.expect_request(re.compile(".*")).respond_with_handler(self._handle)
        return self

    def stop(self) -> None:
        self.server.clear()
        if self.server.is_running():
            self.server.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    # --- configuration -------------------------------------------------------------------

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append((method, re.compile(f"^{pattern}$"), handler))
            return handler

        return register

    def fail_next(self, count: int = 1, **fault: Any) -> None:
        for _ in range(count):
            self.faults.append(Fault(**fault))

    def calls(self, method: str, pattern: str) -> int:
        wanted = re.compile(f"^{pattern}$")
        return sum(1 for m, path, _h, _b in self.requests if m == method and wanted.match(path))

    # --- serving -------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(
                (
                    request.method,
                    request.path,
                    dict(request.headers),
                    request.get_data(as_text=True),
                )
            )
            fault = self._take_fault(request)
            if self.outage:
                return error(503, "service unavailable")
            if fault.status is not None:
                return error(fault.status, "injected fault", fault.headers)
            response = self._dispatch(request)
        if fault.delay:
            time.sleep(fault.delay)
        return response

    def _take_fault(self, request: Request) -> Fault:
        for fault in self.faults:
            if fault.applies(request.method, request.path):
                self.faults.remove(fault)
                return fault
        return Fault()

    def _dispatch(self, request: Request) -> Response:
        denied = self.authorize(request)
        if denied is not None:
            return denied
        for method, pattern, handler in self.routes:
            found = pattern.match(request.path)
            if found and method == request.method:
                return handler(request, *found.groups())
        return error(404, f"no route for {request.method} {request.path}")

    def authorize(self, request: Request) -> Response | None:
        """None when the request carries the right credentials; subclasses check them."""
        return None


def as_json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(data), status=status, headers=headers or {}, content_type="application/json"
    )


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return as_json({"message": message, "errorMessages": [message]}, status, headers)
