"""A worker's source cache: one bare mirror per repository, one checkout per commit SHA.

Each checkout is a shallow clone of its commit fetched from the local mirror, so it is a
git work tree of its own (tests that ask git about their repository still work) that does
not depend on the mirror: either can be evicted without breaking the other.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from dtf.cache import config
from dtf.cache.entries import Entry, EntryCache
from dtf.errors import SourceError
from dtf.sources.git import NETWORK_TIMEOUT_SECONDS, git_env, run_git
from dtf.sources.spec import redact_url

_BRANCHES_AND_TAGS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")


@dataclass(frozen=True)
class Checkout:
    """One commit's files on this worker, leased: they stay until the lease ends."""

    url: str
    sha: str
    path: Path
    built: bool  # this call cloned it (False: a cache hit)
    fetched: bool  # this call fetched from the repository (False: no network was used)


class SourceCache:
    """Mirrors and checkouts under <cache>/sources, bounded in size, LRU-evicted."""

    def __init__(self, root: Path | None = None, max_bytes: int | None = None):
        base = (root if root is not None else config.cache_root()).absolute()
        bound = max_bytes if max_bytes is not None else config.max_bytes()
        self.entries = EntryCache(base / "sources", bound)

    @contextmanager
    def checkout(self, url: str, sha: str) -> Iterator[Checkout]:
        """Commit `sha` of `url`, cloned into this cache unless an earlier shard did."""
        fetched = False

        def build(path: Path) -> dict[str, str]:
            nonlocal fetched
            with self.mirror(url) as mirror:
                fetched = self.ensure_commit(mirror, url, sha) or mirror.built
                _shallow_clone(mirror.path, sha, path)
            return {"url": redact_url(url), "sha": sha}

        with self.entries.lease(f"tree-{sha}", build) as tree:
            yield Checkout(url, sha, tree.path, tree.built, fetched)

    def mirror(self, url: str) -> AbstractContextManager[Entry]:
        """The lease on `url`'s bare mirror, cloned on first use."""

        def build(path: Path) -> dict[str, str]:
            run_git(["init", "--bare", "--quiet", str(path)])
            # Checkouts fetch single commits from the mirror by SHA; auto-gc would repack
            # under readers for no gain in a cache.
            run_git(["config", "uploadpack.allowAnySHA1InWant", "true"], cwd=path)
            run_git(["config", "gc.auto", "0"], cwd=path)
            _fetch_all(path, url)
            return {"url": redact_url(url)}

        return self.entries.lease(_mirror_key(url), build)

    def ensure_commit(self, mirror: Entry, url: str, sha: str) -> bool:
        """Fetch into the mirror unless it has `sha`; return whether it fetched.

        SourceError when the repository has no such commit.
        """
        if has_commit(mirror.path, sha):
            return False
        with self.entries.exclusive(mirror.key):
            if has_commit(mirror.path, sha):  # a concurrent shard fetched it meanwhile
                return False
            _fetch_all(mirror.path, url)
            if not has_commit(mirror.path, sha):
                # Not on a branch or tag (a pull request's head): ask for the commit itself.
                _fetch(mirror.path, url, [sha])
            self.entries.remeasure(mirror.key)
        if not has_commit(mirror.path, sha):
            raise SourceError(f"commit {sha} is not in {redact_url(url)}")
        return True

    def find_commit(self, url: str, prefix: str) -> str:
        """The full SHA of commit `prefix` (abbreviated or whole) in `url`; SourceError if none."""
        with self.mirror(url) as mirror:
            found = _rev_parse(mirror.path, prefix)
            if found is None:
                with self.entries.exclusive(mirror.key):
                    _fetch_all(mirror.path, url)
                    self.entries.remeasure(mirror.key)
                found = _rev_parse(mirror.path, prefix)
        if found is None:
            raise SourceError(
                f"unknown ref '{prefix}' in {redact_url(url)}: no branch, tag or commit of "
                "that name (git rev-parse in a fresh mirror of it found none)"
            )
        return found


def has_commit(repository: Path, sha: str) -> bool:
    done = subprocess.run(
        ["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=repository, env=git_env(),
        capture_output=True, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return done.returncode == 0


def _rev_parse(repository: Path, prefix: str) -> str | None:
    done = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{prefix}^{{commit}}"], cwd=repository,
        env=git_env(), capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return done.stdout.strip() if done.returncode == 0 else None


def _mirror_key(url: str) -> str:
    return "mirror-" + hashlib.sha256(url.encode()).hexdigest()[:24]


def _fetch_all(mirror: Path, url: str) -> None:
    _fetch(mirror, url, ["--prune", *_BRANCHES_AND_TAGS])


def _fetch(mirror: Path, url: str, what: list[str]) -> None:
    # The URL is given on the command line, never stored as a remote in the mirror's config:
    # what is on disk never holds more than the campaign file said.
    run_git(["fetch", "--quiet", "--no-tags", url, *what], cwd=mirror,
            timeout=NETWORK_TIMEOUT_SECONDS, url=url)  # fmt: skip


def _shallow_clone(mirror: Path, sha: str, path: Path) -> None:
    run_git(["init", "--quiet", str(path)])
    run_git(["fetch", "--quiet", "--depth", "1", "--no-tags", mirror.as_uri(), sha], cwd=path)
    run_git(["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", sha],
            cwd=path)  # fmt: skip
