"""A Slack Web API fake: chat.postMessage, conversations.history and conversations.replies."""

from __future__ import annotations

import itertools
from typing import Any

from werkzeug import Request, Response

from tests.fakes.base import FakeService, as_json


class FakeSlack(FakeService):
    """Messages per channel in memory; answers in Slack's {"ok": ...} envelope."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.messages: list[dict[str, Any]] = []
        self._ts = itertools.count(1)
        self.route("POST", "/api/chat.postMessage")(self.post)
        # slack_sdk sends these as form posts; Slack also accepts GET with a query string.
        for method in ("GET", "POST"):
            self.route(method, "/api/conversations.history")(self.history)
            self.route(method, "/api/conversations.replies")(self.replies)

    def authorize(self, request: Request) -> Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return as_json({"ok": False, "error": "invalid_auth"})
        return None

    def post(self, request: Request) -> Response:
        body = request.get_json()
        ts = f"1700000000.{next(self._ts):06d}"
        message = {
            "type": "message",
            "ts": ts,
            "channel": body["channel"],
            "text": body.get("text", ""),
            "blocks": body.get("blocks") or [],
            "thread_ts": body.get("thread_ts"),
            "metadata": body.get("metadata"),
        }
        self.messages.append(message)
        return as_json({"ok": True, "channel": body["channel"], "ts": ts, "message": message})

    def history(self, request: Request) -> Response:
        channel = request.values["channel"]
        top = [m for m in self.messages if m["channel"] == channel and not m["thread_ts"]]
        return as_json(
            {
                "ok": True,
                "has_more": False,
                "messages": [self._shown(m, request) for m in reversed(top)],
            }
        )

    def replies(self, request: Request) -> Response:
        channel, ts = request.values["channel"], request.values["ts"]
        thread = [
            m
            for m in self.messages
            if m["channel"] == channel and (m["ts"] == ts or m["thread_ts"] == ts)
        ]
        return as_json(
            {"ok": True, "has_more": False, "messages": [self._shown(m, request) for m in thread]}
        )

    def _shown(self, message: dict[str, Any], request: Request) -> dict[str, Any]:
        # Slack returns metadata only to callers that ask for it.
        shown = {k: v for k, v in message.items() if k != "metadata"}
        if (
            request.values.get("include_all_metadata") in ("1", "true", "True")
            and message["metadata"]
        ):
            shown["metadata"] = message["metadata"]
        return shown

    def posted(self, thread: bool | None = None) -> list[dict[str, Any]]:
        if thread is None:
            return list(self.messages)
        return [m for m in self.messages if bool(m["thread_ts"]) == thread]
