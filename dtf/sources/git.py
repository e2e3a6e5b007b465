"""Runs git without prompts and turns its failures into dtf's faults, with git's own message."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from dtf.errors import InfrastructureError, SourceError
from dtf.sources.spec import redact_url

NETWORK_TIMEOUT_SECONDS = 600.0
LOCAL_TIMEOUT_SECONDS = 120.0
MESSAGE_CHARS = 2000
# git's words for "the commit or ref is not there": a configuration fault, not a network one.
_MISSING_OBJECT = (
    "not our ref",
    "couldn't find remote ref",
    "unknown revision",
    "needed a single revision",
    "bad object",
    "not a valid object name",
    "invalid object name",
)


def git_env() -> dict[str, str]:
    """The worker's environment, minus everything that could make git wait for a person."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANGUAGE": "C"}
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return env


def run_git(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout: float = LOCAL_TIMEOUT_SECONDS,
    url: str = "",
) -> str:
    """Run `git ARGS`; return its stdout. Failures raise SourceError or InfrastructureError.

    `url` names the repository in messages (redacted of credentials).
    """
    git = shutil.which("git")
    if git is None:
        raise InfrastructureError("git is not installed on this worker", error_class="checkout")
    try:
        done = subprocess.run(
            [git, *args], cwd=cwd, env=git_env(), capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        where = f" for {redact_url(url)}" if url else ""
        raise InfrastructureError(
            f"git {args[0]}{where} did not finish in {timeout:g}s", error_class="checkout"
        ) from None
    if done.returncode != 0:
        raise git_fault(args, done.stderr or done.stdout, url)
    return done.stdout


def repository_of(folder: Path) -> str:
    """Where the repository of `folder` fetches from (its `origin`), else its own top level."""
    origin = run_git(["config", "--default", "", "--get", "remote.origin.url"], cwd=folder)
    return origin.strip() or run_git(["rev-parse", "--show-toplevel"], cwd=folder).strip()


def git_fault(args: Sequence[str], message: str, url: str) -> SourceError | InfrastructureError:
    """The fault a failed git command stands for: a missing commit or ref is a configuration
    error (SourceError); anything else (an unreachable host, a repository that is not there,
    refused credentials, a full disk) is an infrastructure fault another worker may not have.
    """
    text = _clean(message, url)
    where = f" {redact_url(url)}" if url else ""
    what = f"git {args[0]}{where} failed: {text}"
    if any(marker in text.lower() for marker in _MISSING_OBJECT):
        return SourceError(what)
    return InfrastructureError(what, error_class="checkout")


def _clean(message: str, url: str) -> str:
    text = message.strip() or "(no message)"
    if url and redact_url(url) != url:
        text = text.replace(url, redact_url(url))
    return text[-MESSAGE_CHARS:]
