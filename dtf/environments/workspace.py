"""Integration points: pin a run's workspace at plan time, prepare it on a worker for a shard."""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dtf.browser.pages import discover_pages
from dtf.browser.spec import BrowserSuiteSpec
from dtf.cache.collected import CollectionCache, CollectionKey, collection_key, reuse_enabled
from dtf.config import dtf_home
from dtf.discovery import Discovered, discover
from dtf.environments.build import EnvironmentCache
from dtf.environments.keys import lock_hash, platform_tag, requirement_files
from dtf.environments.shard import process_environment, shard_environment
from dtf.environments.spec import EnvironmentSpec, WorkspaceSpec
from dtf.errors import DiscoveryError, InfrastructureError, SourceError
from dtf.sources.checkout import SourceCache
from dtf.sources.resolve import resolve_ref
from dtf.sources.spec import GitSource, LocalSource, PinnedSource


@dataclass(frozen=True)
class PreparedWorkspace:
    """A run's code and environment on this worker, ready for a shard (while leased)."""

    rootdir: Path  # where the shard's pytest runs
    python: str  # the interpreter it runs with
    source_root: Path  # the campaign's source directory (discovery runs here)
    checkout: Path | None = None  # the repository's root, for a git source
    venv: Path | None = None
    environment: EnvironmentSpec | None = None
    sha: str | None = None
    env_key: str = ""
    lock_hash: str = ""
    python_version: str = ""
    packages: tuple[str, ...] = ()
    cloned: bool = False  # this preparation cloned the source (a cold worker)
    built: bool = False  # this preparation built the environment

    def shard_env(
        self, scratch: Path, suite_env: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The shard's clean-room variables (dtf.environments.shard.shard_environment)."""
        return shard_environment(scratch, venv=self.venv, environment=self.environment,
                                 suite_env=suite_env)  # fmt: skip

    def record(self) -> dict[str, Any]:
        """What this worker tested with, for the run's records: commit, environment, packages."""
        return {"sha": self.sha, "env_key": self.env_key, "lock_hash": self.lock_hash,
                "python_version": self.python_version, "platform": platform_tag(),
                "packages": list(self.packages)}  # fmt: skip


def plan_workspace(
    source: Path | GitSource,
    environment: EnvironmentSpec | None,
    *,
    cache_root: Path | None = None,
) -> WorkspaceSpec:
    """At the start of a run: pin a git ref to one SHA (every shard tests that commit), pin
    the Python version, and hash the requirements as that commit has them.

    `source` is the campaign's git source, or its local source directory (resolved).
    """
    env = _pin_python(environment)
    if not isinstance(source, GitSource):
        local = source.resolve()
        files = requirement_files(local, env.requirements) if env and env.requirements else {}
        lock = lock_hash(env, files) if env else ""
        return WorkspaceSpec(source=LocalSource(path=str(local)), environment=env, lock_hash=lock)
    cache = SourceCache(cache_root)
    sha = resolve_ref(source.git, source.ref, cache)
    pinned = PinnedSource(url=source.git, ref=source.ref, sha=sha, subdir=source.subdir)
    if env is None:
        return WorkspaceSpec(source=pinned)
    # This machine's cache holds the commit afterwards, which a local worker reuses.
    with cache.checkout(source.git, sha) as checkout:
        root = _source_dir(checkout.path, source.subdir, sha)
        files = requirement_files(root, env.requirements) if env.requirements else {}
    return WorkspaceSpec(source=pinned, environment=env, lock_hash=lock_hash(env, files))


def workspace_parameters(workspace: WorkspaceSpec) -> dict[str, Any]:
    """What the run's parameters record about its workspace (read back by `dtf repro`)."""
    return {"workspace": workspace.model_dump(mode="json")}


@contextmanager
def prepare_workspace(
    workspace: WorkspaceSpec | None,
    rootdir: str,
    python: str,
    *,
    cache_root: Path | None = None,
    worker: str = "",
) -> Iterator[PreparedWorkspace]:
    """The run's source and environment on this worker, from its caches or built first.

    `rootdir` and `python` are the manifest's; for a git source `rootdir` is relative to the
    repository. Without a workspace (an older plan) they are used as they are. The caches'
    entries stay leased, safe from eviction, until the block ends. Faults name `worker`.
    """
    with ExitStack() as stack:
        try:
            prepared = _prepare(stack, workspace, rootdir, python, cache_root)
        except InfrastructureError as exc:
            if exc.worker or not worker:
                raise
            raise InfrastructureError(str(exc), error_class=exc.error_class, worker=worker) from exc
        yield prepared


def discover_in_workspace(
    workspace: WorkspaceSpec,
    pytest_args: list[str],
    *,
    cache_root: Path | None = None,
    worker: str = "",
    reuse: bool = True,
) -> Discovered:
    """Collect tests in the workspace on this worker (its checkout, its environment).

    With `reuse` (and $DTF_COLLECTION_CACHE not 0), an identical earlier collection's ids are
    returned without running pytest (dtf.cache.collected says what "identical" covers).
    For a git source the rootdir comes back relative to the repository, as the manifest
    wants it: every worker's checkout lives at a different path.
    """
    with _discovery_room(workspace, cache_root, worker) as (ws, scratch):
        cache = CollectionCache(cache_root) if reuse and reuse_enabled() else None
        found = _collect_or_reuse(ws, pytest_args, scratch, cache)
        if ws.checkout is not None:
            relative = os.path.relpath(found.rootdir, ws.checkout)
            if relative.startswith(".."):
                raise DiscoveryError(f"pytest's rootdir {found.rootdir} is outside the repository")
            found.rootdir = Path(relative)
        return found


def probe_cheaply(workspace: WorkspaceSpec) -> bool:
    """Whether a worker can look up a collection without a checkout or a build first."""
    return isinstance(workspace.source, LocalSource) and workspace.environment is None


def reused_collection(
    workspace: WorkspaceSpec, pytest_args: list[str], *, cache_root: Path | None = None
) -> Discovered | None:
    """An identical earlier collection's ids on this worker, or None; never runs pytest.

    Only for a local source with no environment to build: anything else may need a checkout
    or a build first, which is the discovery task's work (and shows in the Prefect UI).
    """
    if not probe_cheaply(workspace) or not reuse_enabled():
        return None
    with _discovery_room(workspace, cache_root) as (ws, scratch):
        key = _collection_key(ws, pytest_args, scratch)
        return CollectionCache(cache_root).load(key) if key else None


@contextmanager
def _discovery_room(
    workspace: WorkspaceSpec, cache_root: Path | None, worker: str = ""
) -> Iterator[tuple[PreparedWorkspace, Path]]:
    """The workspace prepared on this worker, and a scratch directory for the collection's
    clean room (its HOME and temporary files)."""
    with (
        prepare_workspace(
            workspace, ".", sys.executable, cache_root=cache_root, worker=worker
        ) as ws,
        tempfile.TemporaryDirectory(prefix="dtf-discover-home-") as scratch,
    ):
        yield ws, Path(scratch)


def _collection_key(
    ws: PreparedWorkspace, pytest_args: list[str], scratch: Path
) -> CollectionKey | None:
    # The scratch directory is new each time; what the key needs is the rest of the variables.
    env = process_environment(ws.shard_env(scratch))
    seen = {k: v.replace(str(scratch), "<scratch>") for k, v in env.items()}
    return collection_key(ws.source_root, pytest_args, ws.python, seen, exclude=[dtf_home()])


def _collect_or_reuse(
    ws: PreparedWorkspace, pytest_args: list[str], scratch: Path, cache: CollectionCache | None
) -> Discovered:
    env = ws.shard_env(scratch)
    if cache is None:
        return discover(ws.source_root, pytest_args, python=ws.python, env=env)
    key = _collection_key(ws, pytest_args, scratch)
    found = cache.load(key) if key else None
    if found is None:
        found = discover(ws.source_root, pytest_args, python=ws.python, env=env)
        if key:
            cache.save(key, found)
    return found


def pages_in_workspace(
    workspace: WorkspaceSpec,
    browser: BrowserSuiteSpec,
    *,
    cache_root: Path | None = None,
    worker: str = "",
) -> list[str]:
    """A browser suite's page ids, listed in the run's checkout on this worker: the campaign
    file's directory on the flow's machine need not hold that commit's pages."""
    code_only = workspace.model_copy(update={"environment": None})  # pages need no venv
    with prepare_workspace(
        code_only, ".", sys.executable, cache_root=cache_root, worker=worker
    ) as ws:
        return [page.path for page in discover_pages(browser, ws.source_root)]


def _prepare(
    stack: ExitStack,
    workspace: WorkspaceSpec | None,
    rootdir: str,
    python: str,
    cache_root: Path | None,
) -> PreparedWorkspace:
    if workspace is None:
        return PreparedWorkspace(rootdir=Path(rootdir), python=python, source_root=Path(rootdir))
    source = workspace.source
    checkout: Path | None = None
    cloned = False
    if isinstance(source, PinnedSource):
        tree = stack.enter_context(SourceCache(cache_root).checkout(source.url, source.sha))
        checkout, cloned = tree.path, tree.built
        source_root = _source_dir(tree.path, source.subdir, source.sha)
        run_root = _inside(tree.path, rootdir, source.sha)
    else:
        source_root, run_root = Path(source.path), Path(rootdir)
    prepared = PreparedWorkspace(rootdir=run_root, python=python, source_root=source_root,
                                 checkout=checkout, sha=workspace.sha, cloned=cloned,
                                 lock_hash=workspace.lock_hash)  # fmt: skip
    if workspace.environment is None:
        return prepared
    environments = EnvironmentCache(cache_root)
    built = stack.enter_context(
        environments.environment(workspace.environment, source_root, workspace.sha)
    )
    return dataclasses.replace(
        prepared, python=built.python, venv=built.path, environment=workspace.environment,
        env_key=built.key, lock_hash=built.lock_hash, python_version=built.python_version,
        packages=built.packages, built=built.built,
    )  # fmt: skip


def _pin_python(environment: EnvironmentSpec | None) -> EnvironmentSpec | None:
    if environment is None or environment.python is not None:
        return environment
    # Every worker builds with the Python version the run was planned with.
    return environment.model_copy(update={"python": f"{sys.version_info[0]}.{sys.version_info[1]}"})


def _source_dir(checkout: Path, subdir: str, sha: str) -> Path:
    folder = checkout / subdir
    if not folder.is_dir():
        raise SourceError(f"the source directory '{subdir}' does not exist at commit {sha}")
    return folder


def _inside(checkout: Path, rootdir: str, sha: str) -> Path:
    if os.path.isabs(rootdir) or ".." in Path(rootdir).parts:
        raise SourceError(f"rootdir '{rootdir}' of commit {sha} must be relative to its repository")
    return checkout / rootdir
