"""GitLab: a commit status and one merge-request note updated in place."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

import gitlab
import requests
from gitlab.exceptions import GitlabError

from dtf.publishing.base import Delivery, DeliveryContext, PublisherOptions, PublishInput
from dtf.publishing.content import counts_line, summary_markdown
from dtf.publishing.github import marker_of
from dtf.publishing.http import status_error, transport_errors

# python-gitlab would sleep out a 429 itself (up to 10 times); dtf's outbox budget decides.
NO_LIBRARY_RETRY = {"obey_rate_limit": False, "retry_transient_errors": False}


class GitLabOptions(PublisherOptions):
    """Project and what to post; the token comes from `token_env`."""

    project: str
    url: str = "https://gitlab.com"
    token_env: str = "DTF_GITLAB_TOKEN"
    sha: str | None = None  # default: the run's ref, else $CI_COMMIT_SHA
    mr: int | None = None  # default: $CI_MERGE_REQUEST_IID
    context: str = "dtf"
    status: bool = True
    mr_note: bool = True


class GitLabPublisher:
    """Posts through python-gitlab."""

    Options: ClassVar[type[PublisherOptions]] = GitLabOptions

    def __init__(self, options: PublisherOptions):
        assert isinstance(options, GitLabOptions)
        self.options = options
        self._last_headers: Mapping[str, str] = {}

    def plan(self, run: PublishInput) -> list[Delivery]:
        o = self.options
        target = f"gitlab {o.project}"
        out = []
        sha = o.sha or run.facts.run.get("ref") or os.environ.get("CI_COMMIT_SHA")
        if o.status and sha:
            state = "success" if run.verdict == "passed" else "failed"
            body = {
                "sha": str(sha),
                "state": state,
                "description": f"{run.verdict}: {counts_line(run)}"[:140],
                "target_url": run.facts.run.get("flow_run_url") or "",
            }
            out.append(Delivery("status", str(sha), target, body))
        iid = o.mr if o.mr is not None else _env_int("CI_MERGE_REQUEST_IID")
        if o.mr_note and iid is not None:
            marker = marker_of(run.facts.campaign)
            body = {"mr": iid, "marker": marker, "markdown": summary_markdown(run, marker)}
            out.append(Delivery("mr_note", str(iid), target, body))
        return out

    def deliver(self, kind: str, body: Mapping[str, Any], ctx: DeliveryContext) -> str:
        with self._errors():
            project = self._client(ctx).projects.get(self.options.project, lazy=True)
            if kind == "status":
                data = {
                    "state": body["state"],
                    "name": self.options.context,
                    "description": body["description"],
                }
                if body.get("target_url"):
                    data["target_url"] = body["target_url"]
                commit = project.commits.get(str(body["sha"]), lazy=True)
                status = commit.statuses.create(data, **NO_LIBRARY_RETRY)
                return f"status:{status.get_id()}"
            return self._note(project, body)

    def _note(self, project: Any, body: Mapping[str, Any]) -> str:
        mr = project.mergerequests.get(int(body["mr"]), lazy=True)
        text = str(body["markdown"])
        for note in mr.notes.list(iterator=True, **NO_LIBRARY_RETRY):
            if str(body["marker"]) in (note.body or ""):
                if note.body != text:
                    note.body = text
                    note.save(**NO_LIBRARY_RETRY)
                return f"note:{note.get_id()}"
        return f"note:{mr.notes.create({'body': text}, **NO_LIBRARY_RETRY).get_id()}"

    def _client(self, ctx: DeliveryContext) -> gitlab.Gitlab:
        session = requests.Session()
        # python-gitlab's errors drop the response headers; keep them for Retry-After.
        session.hooks["response"].append(self._remember_headers)
        return gitlab.Gitlab(
            self.options.url,
            private_token=ctx.secret_of(self.options, "token"),
            timeout=self.options.timeout_seconds,
            session=session,
            retry_transient_errors=False,
        )

    def _remember_headers(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_headers = dict(response.headers)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        target = f"GitLab {self.options.url}"
        try:
            with transport_errors(target):
                yield
        except GitlabError as exc:
            detail = exc.error_message or ""
            text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
            raise status_error(target, exc.response_code, self._last_headers, text) from None


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name, "")
    return int(raw) if raw.isdigit() else None
