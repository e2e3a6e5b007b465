"""A directory of cache entries built once, shared by concurrent users, evicted least recent first.

Layout under the cache's root:
  entries/<key>/      the entry (a checkout, a virtual environment)
  meta/<key>.json     written last, when the entry is complete; its mtime is the last use
  locks/<key>.use     held shared by every user of the entry, exclusively by its evictor
  locks/<key>.build   held exclusively while the entry is built or updated
  locks/evict         held while entries are evicted
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtf.cache.locks import DEFAULT_WAIT_SECONDS, file_lock, try_lock

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

Builder = Callable[[Path], Mapping[str, Any]]


@dataclass(frozen=True)
class Entry:
    """A complete cache entry, leased: it is not evicted while the lease lasts."""

    key: str
    path: Path
    info: Mapping[str, Any] = field(default_factory=dict)
    built: bool = False  # True when this lease built it (a cache miss)


@dataclass(frozen=True)
class Stored:
    """What the cache holds for one key: its size and when it was last used."""

    key: str
    bytes: int
    last_used: float


class EntryCache:
    """Entries built at most once per key, however many threads and processes ask at once."""

    def __init__(self, root: Path, max_bytes: int, *, wait: float = DEFAULT_WAIT_SECONDS):
        self.root = root.absolute()  # tools run elsewhere (uv in the source) get its paths
        self.max_bytes = max_bytes
        self.wait = wait

    def path(self, key: str) -> Path:
        return self.root / "entries" / _checked(key)

    @contextmanager
    def lease(self, key: str, build: Builder) -> Iterator[Entry]:
        """The complete entry `key`, built by `build(path)` first if it is missing.

        `build` fills the empty path and returns what to remember about the entry. Concurrent
        callers of a missing key wait for one build; a failed build leaves nothing behind.
        """
        with file_lock(self._lock(key, "use"), shared=True, wait=self.wait):
            meta = self._complete(key)
            if meta is not None:
                self._touch(key)
                yield Entry(key, self.path(key), meta.get("info", {}))
                return
            entry = self._build(key, build)
            self.evict(keep=key)
            yield entry

    @contextmanager
    def exclusive(self, key: str) -> Iterator[None]:
        """Hold the key's build lock, to update a complete entry (fetch into a mirror)."""
        with file_lock(self._lock(key, "build"), wait=self.wait):
            yield

    def remeasure(self, key: str, info: Mapping[str, Any] | None = None) -> None:
        """Record the entry's new size (and info) after an update; call under `exclusive`."""
        meta = self._read(key) or {}
        kept = info if info is not None else meta.get("info", {})
        self._write(key, kept, created=meta.get("created"))

    def stored(self) -> list[Stored]:
        """Every complete entry, least recently used first."""
        found = []
        for meta_path in (self.root / "meta").glob("*.json"):
            meta = _load(meta_path)
            if meta is not None:
                last = last_use(meta_path)
                found.append(Stored(meta_path.stem, int(meta.get("bytes", 0)), last))
        return sorted(found, key=lambda s: (s.last_used, s.key))

    def evict(self, keep: str = "") -> list[str]:
        """Remove least recently used entries nobody leases until the cache fits its bound."""
        removed: list[str] = []
        with file_lock(self.root / "locks" / "evict", wait=self.wait):
            removed += self._sweep_incomplete(keep)
            stored = self.stored()
            total = sum(s.bytes for s in stored)
            for item in stored:
                if total <= self.max_bytes:
                    break
                if item.key != keep and self._remove_unused(item.key):
                    total -= item.bytes
                    removed.append(item.key)
        return removed

    def _build(self, key: str, build: Builder) -> Entry:
        with self.exclusive(key):
            meta = self._complete(key)
            if meta is not None:  # another worker thread built it while this one waited
                self._touch(key)
                return Entry(key, self.path(key), meta.get("info", {}))
            path = self.path(key)
            (self.root / "meta" / f"{key}.json").unlink(missing_ok=True)
            _remove(path)  # the remains of a build that died half-way
            path.mkdir(parents=True)
            try:
                info = dict(build(path))
            except BaseException:
                _remove(path)
                raise
            self._write(key, info)
            return Entry(key, path, info, built=True)

    def _remove_unused(self, key: str) -> bool:
        with try_lock(self._lock(key, "use")) as free:
            if free:
                # The marker goes first: from then on the entry counts as missing.
                (self.root / "meta" / f"{key}.json").unlink(missing_ok=True)
                _remove(self.path(key))
            return free

    def _sweep_incomplete(self, keep: str) -> list[str]:
        """Entries without a marker whose builder is gone: a crash left them behind."""
        swept = []
        entries = self.root / "entries"
        for path in sorted(entries.iterdir()) if entries.is_dir() else []:
            key = path.name
            if key == keep or self._read(key) is not None or not _KEY.match(key):
                continue
            with try_lock(self._lock(key, "use")) as free:
                if free and self._read(key) is None:
                    _remove(path)
                    swept.append(key)
        return swept

    def _lock(self, key: str, kind: str) -> Path:
        return self.root / "locks" / f"{_checked(key)}.{kind}"

    def _complete(self, key: str) -> dict[str, Any] | None:
        """The entry's marker, if the entry is there too (someone may have deleted it)."""
        meta = self._read(key)
        return meta if meta is not None and self.path(key).is_dir() else None

    def _read(self, key: str) -> dict[str, Any] | None:
        return _load(self.root / "meta" / f"{key}.json")

    def _write(self, key: str, info: Mapping[str, Any], created: float | None = None) -> None:
        meta = {"key": key, "bytes": disk_usage(self.path(key)), "info": dict(info),
                "created": time.time() if created is None else created}  # fmt: skip
        target = self.root / "meta" / f"{key}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{key}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")
        partial.replace(target)  # atomic: readers see no marker or a whole one
        _stamp(target)

    def _touch(self, key: str) -> None:
        try:
            _stamp(self.root / "meta" / f"{key}.json")
        except FileNotFoundError:
            pass  # evicted after this lease began: the lease keeps it until it ends


def disk_usage(path: Path) -> int:
    """Bytes the tree under `path` occupies on disk; hard links count once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            try:
                st = os.lstat(os.path.join(folder, name))
            except FileNotFoundError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def _stamp(path: Path) -> None:
    # An explicit time: the kernel stamps files from a coarse clock (a few milliseconds), too
    # coarse to order two uses in a row.
    now = time.time_ns()
    os.utime(path, ns=(now, now))


def _checked(key: str) -> str:
    if not _KEY.match(key):
        raise ValueError(f"invalid cache key {key!r}")
    return key


def _load(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def last_use(path: Path) -> float:
    """A cache file's mtime (its last use), or 0 when it is gone."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
