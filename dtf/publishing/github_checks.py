"""GitHub check runs as a GitHub App: the installation token, the content, create-or-update."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
from github import Auth, Github, GithubIntegration

from dtf.errors import PublishError
from dtf.publishing.base import PublishInput
from dtf.publishing.content import MAX_LISTED, counts_line, summary_markdown

MAX_TEXT = 65535  # GitHub's limit on a check run's output summary and text, in characters
_CUT = "\n\n… (truncated: GitHub keeps 65535 characters; the dtf report has everything)"
_TITLE = 255


def conclusion_of(run: PublishInput) -> str:
    """success for a pass, failure for a failed run or gate, neutral for any other ending."""
    if run.verdict == "passed":
        return "success"
    gate_failed = run.validation is not None and not run.validation.passed
    return "failure" if run.facts.verdict == "failed" or gate_failed else "neutral"


def truncate(text: str, limit: int = MAX_TEXT) -> str:
    """`text` cut to `limit` characters, saying so at the end."""
    return text if len(text) <= limit else text[: limit - len(_CUT)] + _CUT


def check_run_body(
    run: PublishInput, sha: str, name: str, details_url: str | None
) -> dict[str, Any]:
    """What a check run says: in progress until the run has a verdict, then its conclusion."""
    facts = run.facts
    finished = bool(facts.run.get("verdict")) or facts.run.get("status") == "completed"
    url = details_url.format(run_id=facts.run_id, campaign=facts.campaign) if details_url else ""
    url = url or str(facts.run.get("flow_run_url") or "")
    return {
        "sha": sha,
        "name": name,
        "external_id": facts.run_id,
        "status": "completed" if finished else "in_progress",
        "conclusion": conclusion_of(run) if finished else None,
        # GitHub accepts only http(s) links; a local report path is left to the summary.
        "details_url": url if url.startswith(("http://", "https://")) else None,
        "output": {
            "title": f"{run.verdict if finished else 'running'}: {counts_line(run)}"[:_TITLE],
            "summary": truncate(summary_markdown(run)),
            "text": truncate(_details(run)),
        },
    }


def _details(run: PublishInput) -> str:
    """The failing tests with their messages (the summary lists only their names)."""
    lines: list[str] = []
    for row in run.facts.failing()[: MAX_LISTED * 10]:
        message = row.message.strip()[:2000] or "(no message)"
        lines += [f"#### `{row.test_id}` ({row.outcome})", "```", message, "```", ""]
    return "\n".join(lines) or "No failing tests."


def app_client(
    url: str, app_id: int, installation_id: int | None, repo: str, private_key: str, timeout: int
) -> Github:
    """A client acting as the app's installation on `repo` (found when no id is given).

    PyGithub signs a JWT with the app's key and exchanges it for an installation token on
    the first request; a key that cannot sign is a configuration error, said without the key.
    """
    auth = Auth.AppAuth(app_id, _pem(private_key))
    try:
        auth.create_jwt()
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise PublishError(
            f"GitHub App {app_id}: its private key is not a usable PEM RSA private key "
            f"({type(exc).__name__}); check the secret the publisher's private_key names"
        ) from None
    integration = GithubIntegration(
        base_url=url, auth=auth, timeout=timeout, retry=None,
        seconds_between_requests=None, seconds_between_writes=None,
    )  # fmt: skip
    if installation_id is None:
        owner, name = repo.split("/", 1)
        installation_id = int(integration.get_repo_installation(owner, name).id)
    return integration.get_github_for_installation(installation_id)


def _pem(key: str) -> str:
    # CI secret stores often hold a PEM on one line with literal "\n": accept that too.
    return key.replace("\\n", "\n") if "\n" not in key.strip() else key


def upsert_check_run(repo: Any, body: Mapping[str, Any], app_id: int) -> str:
    """Update this app's check run of that name on the SHA, or create it: never a second one."""
    fields: dict[str, Any] = {
        "status": str(body["status"]),
        "external_id": str(body["external_id"]),
        "output": dict(body["output"]),
    }
    if body.get("conclusion"):
        fields["conclusion"] = str(body["conclusion"])
    if body.get("details_url"):
        fields["details_url"] = str(body["details_url"])
    commit = repo.get_commit(str(body["sha"]))
    for existing in commit.get_check_runs(check_name=str(body["name"])):
        app = existing.app
        if app is None or app.id == app_id:
            existing.edit(**fields)
            return f"check_run:{existing.id}"
    created = repo.create_check_run(name=str(body["name"]), head_sha=str(body["sha"]), **fields)
    return f"check_run:{created.id}"
