"""Slack: a Block Kit summary per run, and threaded follow-ups for escalations."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from dtf.errors import PublishError
from dtf.publishing.base import Delivery, DeliveryContext, PublisherOptions, PublishInput
from dtf.publishing.content import MAX_LISTED, counts_line, links
from dtf.publishing.http import status_error, transport_errors

EVENT = "dtf_delivery"  # message metadata type that finds a message again after a retry
HISTORY_LIMIT = 200


class SlackOptions(PublisherOptions):
    """Which channel to post to; the bot token comes from `token_env`."""

    channel: str
    token_env: str = "DTF_SLACK_TOKEN"
    base_url: str = "https://slack.com/api/"


class SlackPublisher:
    """Posts through slack_sdk's WebClient."""

    Options: ClassVar[type[PublisherOptions]] = SlackOptions

    def __init__(self, options: PublisherOptions):
        assert isinstance(options, SlackOptions)
        self.options = options

    def plan(self, run: PublishInput) -> list[Delivery]:
        target = f"slack {self.options.channel}"
        summary = Delivery("summary", "summary", target, _summary_body(run))
        out = [summary]
        for e in run.facts.escalations:
            text = (
                f":rotating_light: shard `{e.shard_id}` given up to {e.error_class} on "
                f"{e.hardware or 'unknown hardware'}: {e.message[:500]}"
            )
            out.append(
                Delivery(
                    "escalation",
                    e.shard_id,
                    target,
                    {"text": text, "thread_of": ["summary", "summary"]},
                )
            )
        return out

    def deliver(self, kind: str, body: Mapping[str, Any], ctx: DeliveryContext) -> str:
        with self._errors():
            client = WebClient(
                token=ctx.secret_of(self.options, "token"),
                base_url=self.options.base_url,
                timeout=int(max(1, self.options.timeout_seconds)),
                retry_handlers=[],
            )
            channel = self.options.channel
            thread = self._thread(body, ctx)
            found = self._find(client, channel, thread, ctx.delivery_id)
            if found:
                return f"{channel}/{found}"
            sent = client.chat_postMessage(
                channel=channel,
                text=str(body["text"]),
                blocks=body.get("blocks"),
                thread_ts=thread,
                metadata={"event_type": EVENT, "event_payload": {"delivery_id": ctx.delivery_id}},
            )
            return f"{sent['channel']}/{sent['ts']}"

    def _thread(self, body: Mapping[str, Any], ctx: DeliveryContext) -> str | None:
        parent = body.get("thread_of")
        if not parent:
            return None
        ref = ctx.sibling_ref(str(parent[0]), str(parent[1]))
        if ref is None:
            raise PublishError("waiting for the run's Slack summary to be delivered first")
        return ref.rsplit("/", 1)[1]

    def _find(self, client: WebClient, channel: str, thread: str | None, wanted: str) -> str | None:
        """The ts of a message this delivery already posted (a retry after a lost reply)."""
        if thread:
            page = client.conversations_replies(
                channel=channel, ts=thread, include_all_metadata=True, limit=HISTORY_LIMIT
            )
        else:
            page = client.conversations_history(
                channel=channel, include_all_metadata=True, limit=HISTORY_LIMIT
            )
        for message in page.get("messages") or []:
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == EVENT and payload.get("delivery_id") == wanted:
                return str(message["ts"])
        return None

    @contextmanager
    def _errors(self) -> Iterator[None]:
        target = f"Slack {self.options.base_url}"
        try:
            with transport_errors(target):
                yield
        except SlackApiError as exc:
            response = exc.response
            error = str(response.get("error", "")) if isinstance(response.data, dict) else ""
            raise status_error(
                target, _status(response.status_code, error), response.headers, error
            ) from None
        except SlackClientError as exc:
            raise PublishError(f"{target}: client error ({type(exc).__name__})") from None


def _status(code: int, error: str) -> int:
    # Slack answers API errors with HTTP 200 and ok=false: "ratelimited" is still a 429.
    if code == 200:
        return 429 if error == "ratelimited" else 400
    return code


def _summary_body(run: PublishInput) -> dict[str, Any]:
    facts = run.facts
    icon = ":white_check_mark:" if run.verdict == "passed" else ":x:"
    headline = f"{icon} dtf campaign {facts.campaign}: {run.verdict}"
    fields = [
        f"*Run*\n{facts.run_id}",
        f"*Results*\n{counts_line(run)}",
        f"*New failures*\n{len(facts.new_failures())}",
        f"*Flaky*\n{len(facts.flaky())}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    details = _details(run)
    if details:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": details[:2900]}})
    footer = links(run)
    if footer:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f} for f in footer]}
        )
    return {"text": headline, "blocks": blocks}


def _details(run: PublishInput) -> str:
    lines = []
    new = run.facts.new_failures()
    if new:
        lines.append("*New failures*")
        lines += [f"• `{r.test_id}` ({r.outcome})" for r in new[:MAX_LISTED]]
    flaky = run.facts.flaky()
    if flaky:
        lines.append("*Flaky*")
        lines += [f"• `{r.test_id}`" for r in flaky[:MAX_LISTED]]
    if run.validation is not None and not run.validation.passed:
        lines.append("*Failed expectations (regressions)*")
        lines += [f"• {reason}" for reason in run.validation.reasons()[:MAX_LISTED]]
    return "\n".join(lines)
