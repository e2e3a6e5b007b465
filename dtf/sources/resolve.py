"""Pins a git ref (branch, tag, SHA) to one commit SHA, once, at the start of a run."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from dtf.errors import SourceError
from dtf.sources.checkout import Checkout, SourceCache
from dtf.sources.git import NETWORK_TIMEOUT_SECONDS, run_git
from dtf.sources.spec import redact_url

_HEX = re.compile(r"^[0-9a-f]{4,40}$")
_PEELED = "^{}"
SHOWN_REFS = 8


def resolve_ref(url: str, ref: str, cache: SourceCache | None = None) -> str:
    """The commit SHA `ref` names in `url` now.

    Branches and tags are looked up with `git ls-remote` (no clone); a commit SHA, whole or
    abbreviated, is looked up in the cache's mirror of `url`. An unknown ref raises
    SourceError; an unreachable repository raises InfrastructureError.
    """
    refs = list_refs(url)
    found = match_ref(refs, ref)
    if found is not None:
        return found
    if _HEX.match(ref):
        return (cache or SourceCache()).find_commit(url, ref)
    names = sorted(n for n in refs if n != "HEAD")
    listed = ", ".join(names[:SHOWN_REFS]) + (", ..." if len(names) > SHOWN_REFS else "")
    raise SourceError(
        f"unknown ref '{ref}' in {redact_url(url)}: git ls-remote lists no branch or tag of "
        f"that name (it lists {listed or 'no refs at all'})"
    )


@contextmanager
def checkout_ref(url: str, ref: str, cache: SourceCache | None = None) -> Iterator[Checkout]:
    """`ref` of `url` pinned to its commit SHA and checked out in the cache (the same mirror
    and checkouts the workers use), leased until the block ends."""
    found = cache or SourceCache()
    with found.checkout(url, resolve_ref(url, ref, found)) as tree:
        yield tree


def list_refs(url: str) -> dict[str, str]:
    """`git ls-remote URL` as {ref name: commit SHA}, annotated tags peeled to their commit."""
    out = run_git(["ls-remote", url], timeout=NETWORK_TIMEOUT_SECONDS, url=url)
    plain: dict[str, str] = {}
    peeled: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if name.endswith(_PEELED):
            peeled[name.removesuffix(_PEELED)] = sha
        elif name:
            plain[name] = sha
    return {**plain, **peeled}


def match_ref(refs: dict[str, str], ref: str) -> str | None:
    """The SHA of `ref` among `refs`, trying names in git's own order (tags before branches)."""
    for name in (ref, f"refs/{ref}", f"refs/tags/{ref}", f"refs/heads/{ref}",
                 f"refs/remotes/{ref}"):  # fmt: skip
        if name in refs:
            return refs[name]
    return None
