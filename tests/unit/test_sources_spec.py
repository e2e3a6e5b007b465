"""The source and environment models: what a campaign may declare, and what it may not."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dtf.environments.spec import EnvironmentSpec, WorkspaceSpec
from dtf.sources.spec import GitSource, LocalSource, PinnedSource, parse_source, redact_url

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_a_string_is_a_local_path_and_a_mapping_a_git_source() -> None:
    assert parse_source("../project") == "../project"
    parsed = parse_source({"git": "https://example.org/r.git", "ref": "v1", "subdir": "py/"})
    assert parsed == GitSource(git="https://example.org/r.git", ref="v1", subdir="py")
    assert parse_source({"git": "git@example.org:o/r.git"}) == GitSource(
        git="git@example.org:o/r.git", ref="HEAD", subdir="."
    )


@pytest.mark.parametrize("ref", ["-x", "a..b", "has space", "a:b", "x~1", "", "a^", "@{-1}"])
def test_refs_git_would_refuse_are_refused(ref: str) -> None:
    with pytest.raises(ValidationError, match="ref"):
        GitSource(git="https://example.org/r.git", ref=ref)


@pytest.mark.parametrize("subdir", ["../elsewhere", "/etc", "a/../../b"])
def test_a_subdir_must_stay_inside_the_repository(subdir: str) -> None:
    with pytest.raises(ValidationError, match="inside the repository"):
        GitSource(git="https://example.org/r.git", subdir=subdir)


def test_subdirs_are_normalised() -> None:
    assert GitSource(git="u", subdir="./a//b/").subdir == "a/b"
    assert GitSource(git="u", subdir="").subdir == "."


@pytest.mark.parametrize(
    "url", ["https://user:pw@example.org/r.git", "https://ghp_token@example.org/r.git"]
)
def test_credentials_in_an_http_url_are_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="credentials do not belong in the URL"):
        GitSource(git=url)


def test_an_ssh_user_is_not_a_credential() -> None:
    assert GitSource(git="ssh://git@example.org/o/r.git").git == "ssh://git@example.org/o/r.git"
    with pytest.raises(ValidationError, match="cannot start with '-'"):
        GitSource(git="--upload-pack=evil")


def test_redact_url_drops_user_and_password_only() -> None:
    assert (
        redact_url("https://u:p@example.org:8443/r.git?x=1") == "https://example.org:8443/r.git?x=1"
    )
    assert redact_url("file:///tmp/r") == "file:///tmp/r"


def test_a_pinned_source_needs_a_full_sha() -> None:
    assert PinnedSource(url="u", ref="main", sha=SHA).sha == SHA
    with pytest.raises(ValidationError, match="40-hex"):
        PinnedSource(url="u", ref="main", sha=SHA[:12])


@pytest.mark.parametrize(
    ("field", "value"),
    [("packages", ["--index-url=http://evil"]), ("find_links", ["-f"]),
     ("packages", ["  "]), ("python", "2.7"), ("python", "latest"),
     ("requirements", "-r x"), ("env", {"1BAD": "x"}), ("secrets", ["A-B"])],
)  # fmt: skip
def test_environment_fields_that_would_be_misread_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        EnvironmentSpec.model_validate({field: value})


def test_a_workspace_round_trips_through_json_as_the_manifest_stores_it() -> None:
    workspace = WorkspaceSpec(
        source=PinnedSource(url="file:///r", ref="v1", sha=SHA, subdir="py"),
        environment=EnvironmentSpec(requirements="req.txt", python="3.11", secrets=("TOKEN",)),
        lock_hash="abc",
    )
    again = WorkspaceSpec.model_validate_json(workspace.model_dump_json())
    assert again == workspace and again.sha == SHA
    local = WorkspaceSpec.model_validate({"source": {"path": "/srv/project"}})
    assert local.source == LocalSource(path="/srv/project") and local.sha is None
