"""JIRA: one issue per new failure cluster (found again by label), infra issues, fixed tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

from jira import JIRA, JIRAError

from dtf.errors import PublishError
from dtf.publishing.base import Delivery, DeliveryContext, PublisherOptions, PublishInput
from dtf.publishing.content import MAX_LISTED, clusters, escalation_key, label_of_test
from dtf.publishing.http import status_error, transport_errors


class JiraOptions(PublisherOptions):
    """Where and how to file issues; the token comes from `token_env`, never the file."""

    url: str
    project: str
    issue_type: str = "Bug"
    infra_issue_type: str = "Task"
    labels: tuple[str, ...] = ("dtf",)
    token_env: str = "DTF_JIRA_TOKEN"
    # Set for JIRA Cloud (basic auth: e-mail + API token); unset uses a bearer token (PAT).
    user_env: str | None = None
    on_fix: Literal["none", "comment", "transition"] = "comment"
    fix_transition: str = "Done"
    max_issues: int = 20


class JiraPublisher:
    """Files and updates JIRA issues through the `jira` client library."""

    Options: ClassVar[type[PublisherOptions]] = JiraOptions

    def __init__(self, options: PublisherOptions):
        assert isinstance(options, JiraOptions)
        self.options = options

    def plan(self, run: PublishInput) -> list[Delivery]:
        o = self.options
        target = f"jira {o.url} {o.project}"
        out = [_failure(run, c, target, o.issue_type) for c in clusters(run.facts.new_failures())]
        out = out[: o.max_issues]
        seen: set[str] = set()
        for e in run.facts.escalations:
            key = escalation_key(e)
            if key not in seen:
                seen.add(key)
                out.append(
                    _escalation(run, e.error_class, e.hardware, key, target, o.infra_issue_type)
                )
        if o.on_fix != "none":
            failing = sorted({label_of_test(r.test_id) for r in run.facts.failing()})
            for r in run.facts.fixed():
                body = {
                    "test_id": r.test_id,
                    "label": label_of_test(r.test_id),
                    "failing_labels": failing,
                    "run_id": run.facts.run_id,
                }
                out.append(Delivery("fixed", label_of_test(r.test_id), target, body))
        return out

    def deliver(self, kind: str, body: Mapping[str, Any], ctx: DeliveryContext) -> str:
        with self._errors():
            client = self._client(ctx)
            if kind == "fixed":
                return self._fixed(client, body, ctx)
            return self._file(client, body, ctx)

    def _client(self, ctx: DeliveryContext) -> JIRA:
        o = self.options
        token = ctx.secret_of(o, "token")
        auth: dict[str, Any] = (
            {"basic_auth": (ctx.secret_of(o, "user"), token)}
            if o.has_secret("user")
            else {"token_auth": token}
        )
        # dtf retries on its own budget; the library's own retry loop would hide 429s.
        return JIRA(
            server=o.url,
            get_server_info=False,
            max_retries=0,
            logging=False,
            timeout=o.timeout_seconds,
            **auth,
        )

    def _file(self, client: JIRA, body: Mapping[str, Any], ctx: DeliveryContext) -> str:
        """Comment on the open issue carrying the label, or create one; never twice per run."""
        marker = f"[dtf:{ctx.delivery_id}]"
        open_issues = self._open_with_label(client, str(body["label"]))
        if open_issues:
            issue = open_issues[0]
            if marker in str(issue.raw["fields"].get("description") or ""):
                return str(issue.key)
            for comment in client.comments(issue.key):
                if marker in str(comment.body):
                    return f"{issue.key}#comment-{comment.id}"
            comment = client.add_comment(issue.key, f"{body['comment']}\n\n{marker}")
            return f"{issue.key}#comment-{comment.id}"
        fields = {
            "project": {"key": self.options.project},
            "issuetype": {"name": str(body["issue_type"])},
            "summary": str(body["summary"])[:250],
            "description": f"{body['description']}\n\n{marker}",
            "labels": [*self.options.labels, *body["labels"]],
        }
        return str(client.create_issue(fields=fields, prefetch=False).key)

    def _fixed(self, client: JIRA, body: Mapping[str, Any], ctx: DeliveryContext) -> str:
        marker = f"[dtf:{ctx.delivery_id}]"
        refs = []
        for issue in self._open_with_label(client, str(body["label"])):
            labels = set(issue.raw["fields"].get("labels") or ())
            if not any(marker in str(c.body) for c in client.comments(issue.key)):
                client.add_comment(
                    issue.key,
                    f"`{body['test_id']}` passes again in run {body['run_id']}.\n\n{marker}",
                )
            # Only when none of the issue's tests still fails does it move on.
            still = labels & set(body["failing_labels"])
            if self.options.on_fix == "transition" and not still:
                client.transition_issue(issue.key, self.options.fix_transition)
            refs.append(str(issue.key))
        return ",".join(refs) or "no open issue"

    def _open_with_label(self, client: JIRA, label: str) -> list[Any]:
        jql = (
            f'project = "{self.options.project}" AND labels = "{label}" '
            "AND statusCategory != Done ORDER BY created ASC"
        )
        found = client.search_issues(jql, maxResults=5, fields=["labels", "description"])
        return list(found)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        target = f"JIRA {self.options.url}"
        try:
            with transport_errors(target):
                yield
        except JIRAError as exc:
            # str(JIRAError) prints request headers (the token): build the message ourselves.
            headers = exc.response.headers if exc.response is not None else None
            raise status_error(target, exc.status_code, headers, str(exc.text or "")) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise PublishError(f"{target}: unexpected response ({type(exc).__name__})") from exc


def _failure(run: PublishInput, cluster: Any, target: str, issue_type: str) -> Delivery:
    tests = [r.test_id for r in cluster.tests]
    listed = "\n".join(f"* {{{{{t}}}}}" for t in tests[:MAX_LISTED])
    more = f"\n* … and {len(tests) - MAX_LISTED} more" if len(tests) > MAX_LISTED else ""
    first = cluster.tests[0]
    where = run.facts.run.get("flow_run_url") or run.facts.run_id
    body = {
        "label": cluster.label,
        "labels": [cluster.label, *sorted({label_of_test(t) for t in tests})],
        "issue_type": issue_type,
        "summary": f"[dtf] {run.facts.campaign}: {cluster.signature}",
        "description": (
            f"New failure in campaign *{run.facts.campaign}*, run {where}:\n"
            f"{{noformat}}{first.message[-2000:]}{{noformat}}\n"
            f"Failing tests ({len(tests)}):\n{listed}{more}"
        ),
        "comment": f"Still failing in run {where} ({len(tests)} tests):\n{listed}{more}",
        "tests": tests,
    }
    return Delivery("failure", cluster.fingerprint, target, body)


def _escalation(
    run: PublishInput, error_class: str, hardware: str, key: str, target: str, issue_type: str
) -> Delivery:
    shards = [e.shard_id for e in run.facts.escalations if escalation_key(e) == key]
    messages = {e.message for e in run.facts.escalations if escalation_key(e) == key}
    where = run.facts.run.get("flow_run_url") or run.facts.run_id
    text = (
        f"Shards given up to {error_class} on {hardware or 'unknown hardware'} in run "
        f"{where}: {', '.join(shards)}.\n{{noformat}}{' / '.join(sorted(messages))[:2000]}"
        "{noformat}"
    )
    label = f"dtf-infra-{key}"
    body = {
        "label": label,
        "labels": [label, "dtf-infrastructure"],
        "issue_type": issue_type,
        "summary": f"[dtf] infrastructure: {error_class} on {hardware or 'unknown'}",
        "description": text,
        "comment": text,
    }
    return Delivery("escalation", key, target, body)
