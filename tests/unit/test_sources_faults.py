"""Which faults git and uv failures become: configuration errors or infrastructure faults."""

from __future__ import annotations

import pickle

import pytest

from dtf.environments.uv import uv_fault
from dtf.errors import EnvironmentBuildError, InfrastructureError, SourceError
from dtf.recovery.taxonomy import ErrorClass, classify_exception
from dtf.sources.git import git_fault
from dtf.sources.resolve import match_ref

URL = "https://bot:hunter2@example.org/r.git"


@pytest.mark.parametrize(
    "stderr",
    [
        "fatal: git upload-pack: not our ref 0123456789abcdef0123456789abcdef01234567",
        "fatal: couldn't find remote ref refs/heads/gone",
        "fatal: ambiguous argument 'x': unknown revision or path not in the working tree.",
    ],
)
def test_a_missing_commit_or_ref_is_a_source_error(stderr: str) -> None:
    fault = git_fault(["fetch"], stderr, "file:///srv/r")
    assert isinstance(fault, SourceError)
    assert stderr in str(fault) and "git fetch file:///srv/r failed" in str(fault)


@pytest.mark.parametrize(
    "stderr",
    [
        f"fatal: unable to access '{URL}/': Could not resolve host: example.org",
        "fatal: '/srv/gone' does not appear to be a git repository",
        "error: RPC failed; curl 56 Recv failure: Connection reset by peer",
        "fatal: write error: No space left on device",
    ],
)
def test_anything_else_from_git_is_an_infrastructure_fault(stderr: str) -> None:
    fault = git_fault(["ls-remote"], stderr, URL)
    assert isinstance(fault, InfrastructureError) and fault.error_class == "checkout"
    assert "hunter2" not in str(fault) and "bot@" not in str(fault)
    assert "https://example.org/r.git" in str(fault)


def test_uv_failures_are_classified_by_what_went_wrong() -> None:
    unsat = uv_fault(["pip", "install"], "error: No solution found when resolving dependencies:\n"
                     "  Because nope was not found in the package registry ...")  # fmt: skip
    assert isinstance(unsat, EnvironmentBuildError) and "nope was not found" in str(unsat)
    offline = uv_fault(["pip", "install"], "error: Failed to fetch: https://pypi.org/simple/x/")
    assert isinstance(offline, InfrastructureError) and offline.error_class == "environment"
    no_python = uv_fault(["venv"], "error: No interpreter found for Python 3.9 in search path")
    assert isinstance(no_python, InfrastructureError)
    unknown = uv_fault(["pip", "install"], "error: something new")
    assert isinstance(unknown, InfrastructureError)  # the ladder decides; not a red test


@pytest.mark.parametrize("error", [SourceError("unknown ref"), EnvironmentBuildError("no pytest")])
def test_configuration_errors_survive_the_trip_from_a_dask_worker(error: Exception) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error)


def test_infrastructure_faults_of_a_checkout_enter_the_recovery_ladder() -> None:
    failure = classify_exception(InfrastructureError("git fetch failed", error_class="checkout"))
    assert failure.error_class is ErrorClass.INFRASTRUCTURE and failure.kind == "checkout"


def test_refs_match_in_gits_order_tags_before_branches() -> None:
    refs = {"HEAD": "h", "refs/heads/v1": "branch", "refs/tags/v1": "tag",
            "refs/heads/main": "m", "refs/pull/7/head": "pr"}  # fmt: skip
    assert match_ref(refs, "v1") == "tag"
    assert match_ref(refs, "refs/heads/v1") == "branch"
    assert match_ref(refs, "heads/v1") == "branch"
    assert match_ref(refs, "main") == "m"
    assert match_ref(refs, "HEAD") == "h"
    assert match_ref(refs, "pull/7/head") == "pr"
    assert match_ref(refs, "gone") is None
