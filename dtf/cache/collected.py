"""A selection's collected test ids, reused while nothing pytest's collection reads has changed."""

from __future__ import annotations

import hashlib
import json
import os
import site
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path

from dtf.cache import config
from dtf.cache.entries import last_use
from dtf.discovery import Discovered

ENABLED_ENV = "DTF_COLLECTION_CACHE"
MAX_ENTRIES = 256
# Past this many files, stat-ing the tree could cost more than collecting: collect.
MAX_FILES = 100_000
# pytest reads its configuration and conftest files from the source's parents too.
PARENT_FILES = ("conftest.py", "pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini",
                "setup.cfg")  # fmt: skip
# Hidden directories (.git, .venv, .tox), byte-code and node packages are not test inputs.
PRUNED_DIRS = frozenset({"__pycache__", "node_modules"})
# A file changed this recently may change again within the clock's granularity without its
# size or mtime moving (git's "racily clean" case): its content is hashed too, and checked
# again whenever the entry is used.
RACY_SECONDS = 2.0


def reuse_enabled(env: Mapping[str, str] | None = None) -> bool:
    """False when this worker's $DTF_COLLECTION_CACHE is 0."""
    return (os.environ if env is None else env).get(ENABLED_ENV, "1").strip() != "0"


class _TooManyFilesError(Exception):
    """The tree has more than MAX_FILES files."""


@dataclass(frozen=True)
class CollectionKey:
    """What a collection is stored under: a digest of the stat data of its inputs, plus the
    content hash of each file too recently modified for its stat data to be trusted."""

    digest: str
    racy: Mapping[str, str] = field(default_factory=dict)  # path -> sha256 of its content


def collection_key(
    source: Path,
    pytest_args: Sequence[str],
    python: str,
    env: Mapping[str, str],
    *,
    exclude: Sequence[Path] = (),
    now: float | None = None,
) -> CollectionKey | None:
    """The key of what a `pytest --collect-only` of `pytest_args` run in `source` depends on.

    That is: the arguments; the interpreter and its site-packages directories (a directory's
    mtime moves when a distribution is installed or removed); the process's variables; the
    configuration and conftest files in the parents of `source` and of each path the
    arguments name; the name, size, mtime, inode and ctime of every file under `source` and
    those paths, outside hidden directories, byte-code and `exclude` (dtf's own state). A
    suite whose collection reads anything else (the clock, a service, other files) must not
    reuse it (the suite's `cache_collection: false`). None past MAX_FILES files.

    The digest covers stat data only. Files modified less than RACY_SECONDS before `now` are
    hashed into `racy` instead, so the same tree gives the same digest once they settle.
    """
    digest = hashlib.sha256()
    signer = _Signer(time.time() if now is None else now)
    resolved = source.resolve()
    outside = [p for p in named_paths(resolved, pytest_args) if not p.is_relative_to(resolved)]
    roots = [resolved, *outside]
    skipped = {p.resolve() for p in exclude}
    folders = sorted({f for r in roots for f in _folders_up(r)})
    parts: dict[str, Iterable[str]] = {
        "args": pytest_args,
        "python": [python, os.path.realpath(python), *_stats(site_dirs(python), signer)],
        "env": (f"{name}={value}" for name, value in sorted(env.items())),
        "parents": _stats((f / name for f in folders for name in PARENT_FILES), signer),
        "tree": (line for r in roots if r not in skipped for line in _tree(r, signer, skipped)),
    }
    try:
        for name, lines in parts.items():
            digest.update(f"[{name}]\n".encode())
            for count, line in enumerate(lines):
                if count >= MAX_FILES:
                    raise _TooManyFilesError
                digest.update(line.encode(errors="surrogateescape") + b"\n")
    except _TooManyFilesError:
        return None
    return CollectionKey(digest.hexdigest(), dict(signer.racy))


def named_paths(source: Path, pytest_args: Sequence[str]) -> list[Path]:
    """The existing files and directories the arguments name (a test id's file for a test id)."""
    paths: set[Path] = set()
    for arg in pytest_args:
        if arg.startswith("-"):
            continue
        path = (source / arg.split("::", 1)[0]).resolve()  # absolute args stay as they are
        if path.exists():
            paths.add(path)
    return sorted(paths)


def _folders_up(path: Path) -> list[Path]:
    start = path if path.is_dir() else path.parent
    return [start, *start.parents]


def site_dirs(python: str) -> list[Path]:
    """The site-packages directories of `python`: this interpreter's own, or a venv's."""
    # Not realpath: a venv's python links to the base interpreter that this one may share.
    if os.path.abspath(python) == os.path.abspath(sys.executable):
        return [Path(p) for p in site.getsitepackages()]
    prefix = Path(python).parent.parent
    return [Path(p) for p in sorted(glob(str(prefix / "lib" / "python*" / "site-packages")))]


class _Signer:
    """Stat signatures of files; the content hash of each modified RACY_SECONDS before `now`
    or later goes into `racy`."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.racy: dict[str, str] = {}

    def signature(self, path: Path, stat: os.stat_result) -> str:
        """Size, mtime, inode and ctime; a racy file's content is hashed on the side."""
        if self.now - stat.st_mtime < RACY_SECONDS and path.is_file():
            self.racy[str(path)] = content_hash(path)
        return f"{stat.st_size} {stat.st_mtime_ns} {stat.st_ino} {stat.st_ctime_ns}"


def content_hash(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def _stats(paths: Iterable[Path], signer: _Signer) -> Iterator[str]:
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            yield f"{path} -"
            continue
        yield f"{path} {signer.signature(path, stat)}"


def _tree(root: Path, signer: _Signer, skipped: set[Path]) -> Iterator[str]:
    if root.is_file():
        yield from _stats([root], signer)
        return
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if _walked(Path(folder), d, skipped))
        for name in sorted(filenames):
            path = Path(folder, name)
            try:
                stat = path.stat()
            except OSError:
                continue  # a dangling link: pytest cannot read it either
            yield f"{path} {signer.signature(path, stat)}"


def _walked(folder: Path, name: str, skipped: set[Path]) -> bool:
    return not name.startswith(".") and name not in PRUNED_DIRS and folder / name not in skipped


class CollectionCache:
    """Collections by key in `<cache root>/collections/`, the least recently used evicted."""

    def __init__(self, root: Path | None = None, max_entries: int = MAX_ENTRIES):
        self.folder = (root if root is not None else config.cache_root()) / "collections"
        self.max_entries = max_entries

    def load(self, key: CollectionKey) -> Discovered | None:
        """The collection stored under `key`, or None (an unreadable entry is a miss, and so
        is one whose recently modified files, then or now, do not hash as they did)."""
        path = self.folder / f"{key.digest}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            found = Discovered(rootdir=Path(data["rootdir"]),
                               nodeids=[str(n) for n in data["nodeids"]], reused=True)  # fmt: skip
            stored = dict(data.get("racy", {}))
            if not _still_hashes_as(stored, key.racy):
                return None
            if stored != key.racy:
                self.save(key, found)  # its files have settled: stop hashing them at each use
            else:
                os.utime(path)  # its mtime is its last use
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return found

    def save(self, key: CollectionKey, found: Discovered) -> None:
        """Keep a clean collection (one with errors is collected again next time)."""
        if found.collect_errors:
            return
        data = {"rootdir": str(found.rootdir), "nodeids": found.nodeids, "racy": dict(key.racy)}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = self.folder / f".{key.digest}.{os.getpid()}.tmp"
            partial.write_text(json.dumps(data), encoding="utf-8")
            os.replace(partial, self.folder / f"{key.digest}.json")  # concurrent savers: last wins
            self._evict()
        except OSError:
            pass  # a cache that cannot be written only costs the next collection

    def _evict(self) -> None:
        entries = sorted(self.folder.glob("*.json"), key=last_use, reverse=True)
        for stale in entries[self.max_entries :]:
            stale.unlink(missing_ok=True)


def _still_hashes_as(stored: Mapping[str, str], racy_now: Mapping[str, str]) -> bool:
    """Each file that was racy when the entry was stored still has that content. A file racy
    now, with the stat data the entry was keyed on, was racy then too: the entry must vouch."""
    if any(path not in stored for path in racy_now):
        return False
    return all((racy_now.get(path) or content_hash(Path(path))) == sha
               for path, sha in stored.items())  # fmt: skip
