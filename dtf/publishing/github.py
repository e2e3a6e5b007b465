"""GitHub: a commit status (a check run as an App), one updated PR comment, the job summary."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from github import Auth, Github, GithubException

from dtf.errors import PublishError
from dtf.publishing.base import Delivery, DeliveryContext, PublisherOptions, PublishInput
from dtf.publishing.content import counts_line, summary_markdown
from dtf.publishing.github_checks import app_client, check_run_body, upsert_check_run
from dtf.publishing.http import status_error, transport_errors

_PR_REF = re.compile(r"^refs/pull/(\d+)/")


class GitHubOptions(PublisherOptions):
    """Repository and what to post; the token comes from `token_env`.

    With `app_id` dtf acts as that GitHub App instead (its private key from
    `private_key_env`): a check run replaces the commit status, and the PR comment is
    posted by the app.
    """

    repo: str
    url: str = "https://api.github.com"
    token_env: str = "GITHUB_TOKEN"
    sha: str | None = None  # default: the run's ref, else $GITHUB_SHA
    pr: int | None = None  # default: from $GITHUB_REF (refs/pull/<n>/merge)
    context: str = "dtf"
    status: bool = True
    pr_comment: bool = True
    step_summary: bool = True
    app_id: int | None = None
    installation_id: int | None = None  # default: the app's installation on `repo`
    private_key_env: str = "DTF_GITHUB_APP_PRIVATE_KEY"
    check_name: str | None = None  # default: `context`
    details_url: str | None = None  # default: the Prefect flow run; {run_id}, {campaign}


def marker_of(campaign: str) -> str:
    """The hidden HTML comment that finds a campaign's PR comment on later runs."""
    return f"<!-- dtf:campaign:{campaign} -->"


def state_of(run: PublishInput) -> str:
    return "success" if run.verdict == "passed" else "failure"


def pr_number(explicit: int | None) -> int | None:
    if explicit is not None:
        return explicit
    found = _PR_REF.match(os.environ.get("GITHUB_REF", ""))
    return int(found.group(1)) if found else None


class GitHubPublisher:
    """Posts through PyGithub."""

    Options: ClassVar[type[PublisherOptions]] = GitHubOptions

    def __init__(self, options: PublisherOptions):
        assert isinstance(options, GitHubOptions)
        self.options = options

    def plan(self, run: PublishInput) -> list[Delivery]:
        o = self.options
        target = f"github {o.repo}"
        out = []
        sha = o.sha or run.facts.run.get("ref") or os.environ.get("GITHUB_SHA")
        if o.status and sha and o.app_id is not None:
            body = check_run_body(run, str(sha), o.check_name or o.context, o.details_url)
            out.append(Delivery("check_run", str(sha), target, body))
        elif o.status and sha:
            body = {
                "sha": str(sha),
                "state": state_of(run),
                "description": f"{run.verdict}: {counts_line(run)}"[:140],
                "target_url": run.facts.run.get("flow_run_url") or "",
            }
            out.append(Delivery("status", str(sha), target, body))
        number = pr_number(o.pr)
        if o.pr_comment and number is not None:
            marker = marker_of(run.facts.campaign)
            body = {"pr": number, "marker": marker, "markdown": summary_markdown(run, marker)}
            out.append(Delivery("pr_comment", str(number), target, body))
        summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
        if o.step_summary and summary_file:
            marker = f"<!-- dtf:run:{run.facts.run_id} -->"
            body = {
                "path": summary_file,
                "markdown": summary_markdown(run, marker),
                "marker": marker,
            }
            out.append(Delivery("step_summary", "step_summary", f"file {summary_file}", body))
        return out

    def deliver(self, kind: str, body: Mapping[str, Any], ctx: DeliveryContext) -> str:
        if kind == "step_summary":
            return _append_once(Path(str(body["path"])), str(body["markdown"]), str(body["marker"]))
        with self._errors():
            repo = self._client(ctx).get_repo(self.options.repo)
            if kind == "check_run":
                assert self.options.app_id is not None  # planned only for an app
                return upsert_check_run(repo, body, self.options.app_id)
            if kind == "status":
                status = repo.get_commit(str(body["sha"])).create_status(
                    state=str(body["state"]),
                    target_url=str(body["target_url"]) or "",
                    description=str(body["description"]),
                    context=self.options.context,
                )
                return f"status:{status.id}"
            return self._comment(repo, body)

    def _client(self, ctx: DeliveryContext) -> Github:
        o = self.options
        timeout = int(max(1, o.timeout_seconds))
        if o.app_id is not None:
            key = ctx.secret_of(o, "private_key")
            return app_client(o.url, o.app_id, o.installation_id, o.repo, key, timeout)
        return Github(
            base_url=o.url, auth=Auth.Token(ctx.secret_of(o, "token")), timeout=timeout,
            retry=None, seconds_between_requests=None, seconds_between_writes=None,
        )  # fmt: skip

    def _comment(self, repo: Any, body: Mapping[str, Any]) -> str:
        """Edit the campaign's existing comment (found by its marker), or create it."""
        issue = repo.get_issue(int(body["pr"]))
        text = str(body["markdown"])
        for comment in issue.get_comments():
            if str(body["marker"]) in (comment.body or ""):
                if comment.body != text:
                    comment.edit(text)
                return f"comment:{comment.id}"
        return f"comment:{issue.create_comment(text).id}"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        target = f"GitHub {self.options.url}"
        try:
            with transport_errors(target):
                yield
        except GithubException as exc:
            detail = exc.data.get("message", "") if isinstance(exc.data, dict) else ""
            raise status_error(target, exc.status, exc.headers, str(detail)) from None


def _append_once(path: Path, markdown: str, marker: str) -> str:
    """Append to $GITHUB_STEP_SUMMARY unless this run's summary is already there."""
    try:
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        if marker not in existing:
            with path.open("a", encoding="utf-8") as out:
                out.write(
                    ("\n" if existing and not existing.endswith("\n") else "") + markdown + "\n"
                )
    except OSError as exc:
        raise PublishError(f"cannot write the job summary {path}: {exc.strerror}") from exc
    return f"file:{path}"
